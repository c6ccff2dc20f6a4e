// What some tests need from the machine, and the one skip line naming the command that installs it. Every such
// prerequisite is installed by scripts/setup-test-env.sh (run by `npm test` before the tests, and by .ci/run) when
// it can be (root and apt); where it still cannot, the test skips with this line instead of failing.
// TSDISTILL_REQUIRE_ALL=1 (set by .ci/run) turns every such skip back into a failure, so CI never passes by skipping.
import { existsSync } from "node:fs";

const SETUP = "bash scripts/setup-test-env.sh";
const requireAll = process.env.TSDISTILL_REQUIRE_ALL === "1";

/** A node:test `skip` value: false when `present`, else one line naming what is missing and how to install it. */
export function needs(present: boolean, what: string, install: string): false | string {
  if (present || requireAll) return false;
  return `${what} missing; install it with: ${install} (or ${SETUP})`;
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const needsChromium = needs(existsSync(CHROMIUM), CHROMIUM, "sudo apt-get install -y chromium");
export const needsRedis = needs(existsSync("/usr/bin/redis-server"), "/usr/bin/redis-server", "sudo apt-get install -y redis-server");
const onPath = (cmd: string) => (process.env.PATH ?? "").split(":").some((d) => d && existsSync(`${d}/${cmd}`));
export const needsSpeechTools = needs(onPath("espeak-ng") && onPath("sox"), "espeak-ng and sox", "sudo apt-get install -y espeak-ng sox");
