// `tsdistill/auto`: the student search (successive halving over worker threads) and its run store (loads SQLite).
export { runAutoSearch, DEFAULT_DB, type AutoOptions } from "./search.js";
export { type AutoResult } from "./finalize.js";
export { Candidate, DEFAULT_CANDIDATE, defaultSpace, sampleCandidate, candidateTerms, type SpaceOptions } from "./space.js";
export { rungEpochs, promote, bracketSize } from "./asha.js";
export { paretoFront } from "./pareto.js";
export { summarizeSearch, type SearchSummary, type CandidateSummary } from "./summary.js";
export { RunStore, type SearchRow, type TrialRow } from "../runs/store.js";
