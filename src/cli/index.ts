// `tsdistill/cli`: the command line as a library (what bin/tsdistill.js runs) and its progress reporter.
export { main } from "./main.js";
export { ProgressReporter } from "./progress.js";
