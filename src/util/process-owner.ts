import { readFileSync } from "node:fs";

/** Which process holds something (a run folder being written), so that others can tell whether it still runs. */
export interface ProcessOwner {
  pid: number;
  /** The process's start time as the kernel counts it (Linux: /proc/PID/stat), so a reused pid is not mistaken for it. */
  start: string | null;
  /** ISO time the owner took it. */
  since: string;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null where there is no /proc. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

export function currentOwner(): ProcessOwner {
  return { pid: process.pid, start: processStart(process.pid), since: new Date().toISOString() };
}

/** Whether a process with this pid exists (one of another user counts). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the owner still runs: its pid exists and, where start times are known, started when the owner did. */
export function ownerAlive(owner: { pid: number; start?: string | null }): boolean {
  if (!pidAlive(owner.pid)) return false;
  if (!owner.start) return true;
  const now = processStart(owner.pid);
  return now === null || now === owner.start;
}
