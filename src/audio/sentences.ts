import type { Rng } from "../util/rng.js";

// A small lexicon and a few templates give many thousands of distinct sentences; numbers are read out in each
// voice's own language by espeak-ng, so non-English voices also produce their own words.
const SUBJECTS = ["the old man", "a young woman", "my neighbour", "the teacher", "our captain", "the little dog", "a tired farmer", "the new driver", "her brother", "the doctor", "everyone here", "the children", "a stranger", "the baker", "his sister", "the pilot"];
const VERBS = ["opened", "carried", "painted", "found", "repaired", "counted", "forgot", "washed", "bought", "followed", "described", "answered", "measured", "visited", "cleaned", "watched"];
const OBJECTS = ["the heavy door", "a blue umbrella", "seven letters", "the broken window", "an empty basket", "the morning train", "a wooden chair", "the river bank", "three red apples", "the quiet garden", "a long report", "the kitchen table", "her old bicycle", "the village market", "a paper boat", "the north tower"];
const PLACES = ["before sunrise", "in the rain", "after dinner", "near the station", "on Monday", "at the harbour", "behind the school", "during the storm", "last winter", "by the lake", "without a word", "for an hour"];
const QUESTIONS = ["did you see", "who moved", "where is", "why would anyone buy", "can you find", "have you ever seen"];
const CONNECT = ["and then", "but later", "so", "because", "while", "although"];

function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[rng.int(list.length)];
}

/** A deterministic sentence from `rng`: declarative, question, number or compound, in random proportion. */
export function sentence(rng: Rng): string {
  const clause = () => `${pick(rng, SUBJECTS)} ${pick(rng, VERBS)} ${pick(rng, OBJECTS)}`;
  switch (rng.int(5)) {
    case 0:
      return `${clause()} ${pick(rng, PLACES)}.`;
    case 1:
      return `${pick(rng, QUESTIONS)} ${pick(rng, OBJECTS)} ${pick(rng, PLACES)}?`;
    case 2:
      return `${clause()} ${pick(rng, CONNECT)} ${clause()}.`;
    case 3:
      return `${1 + rng.int(9999)} ${pick(rng, OBJECTS)}, ${rng.int(100)}, ${pick(rng, PLACES)}.`;
    default:
      return `${clause()}, ${pick(rng, PLACES)}, ${pick(rng, CONNECT)} ${clause()} ${pick(rng, PLACES)}.`;
  }
}

/** espeak-ng language voices (all ship with Debian's espeak-ng-data). */
export const VOICES = [
  "en-us", "en-gb", "en-gb-scotland", "en-029", "de", "fr-fr", "es", "es-419", "it", "pt", "pt-br", "nl", "pl", "sv", "da", "nb", "fi",
  "cs", "sk", "hu", "ro", "ru", "bg", "el", "hr", "id", "ca", "cy", "af", "sw", "et", "lv",
];
/** espeak-ng voice variants (male, female and effect voices), appended as "+variant". */
export const VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "croak", "klatt", "klatt2", "whisper"];
