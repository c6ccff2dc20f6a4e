// A worker's half of `tsdistill label --queue`: opens the teacher and the split the job names (as `tsdistill label`
// does), checks that they are the ones the coordinator hashed, computes one shard and renames it into the shared
// cache folder. A shard already there in full (the job ran before, on a worker that died after the rename) is
// not computed again, so no shard is ever written twice by retries.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../engine/backend.js";
import { loadSplits } from "../data/sources.js";
import type { InMemoryDataset } from "../data/dataset.js";
import { encodeShard, hashDataset, shardOnDisk } from "../teachers/label-cache.js";
import { openTeachers, type OpenedTeacher } from "../teachers/open-teacher.js";
import { rescaledTeacher, teacherOutputScale, UNITS } from "../teachers/teacher-task.js";
import type { Teacher } from "../teachers/teacher.js";
import { TsdistillError } from "../util/errors.js";
import { writeFileAtomic } from "../util/files.js";
import type { LabelShardJob, LabelShardResult, LabelSource } from "./jobs.js";

/** A job this worker can never run (another teacher or other data than the coordinator's): not retried. */
export class SourceMismatch extends TsdistillError {
  constructor(message: string) {
    super(message);
    this.name = "SourceMismatch";
  }
}

interface OpenSource {
  key: string;
  teacher: Teacher;
  data: InMemoryDataset;
  opened: OpenedTeacher;
  datasetHash: string;
}

// A worker labels many shards of the same cache: the teacher and data stay open between jobs.
let current: OpenSource | null = null;

async function openSource(source: LabelSource): Promise<OpenSource> {
  const key = JSON.stringify(source);
  if (current?.key === key) return current;
  if (current) await current.opened.close();
  current = null;
  await useBackend(source.backend);
  const splits = loadSplits(source.data, source.split);
  const data = splits[source.splitName];
  const opened = await openTeachers(source.teachers, data, source.weights, { dataPreprocess: splits.preprocess });
  // As `tsdistill label`: a regression teacher's numbers go into the cache in the target's units.
  const teacher = data.task === "regression" && source.teachers.length === 1 ? rescaledTeacher(opened.teacher, teacherOutputScale(source.teachers[0]), UNITS) : opened.teacher;
  current = { key, teacher, data, opened, datasetHash: hashDataset(data) };
  return current;
}

export async function runLabelShard(job: LabelShardJob, worker: string): Promise<LabelShardResult> {
  const t0 = performance.now();
  const { settings, dir, index, numShards } = job;
  const done = (sha256: string, reused: boolean): LabelShardResult => ({ kind: "label-shard", index, sha256, reused, seconds: (performance.now() - t0) / 1000, worker });
  if (!existsSync(dir)) throw new SourceMismatch(`the cache folder ${dir} does not exist on this machine; every worker must see it at the same path (shared storage)`);
  const there = shardOnDisk(dir, settings, index, numShards);
  if (there) return done(there.sha256, true);
  const src = await openSource(job.source);
  await useBackend(job.source.backend);
  const what = `${job.source.teachers.join(", ")} on ${job.source.data} (${job.source.splitName} split)`;
  if (src.opened.hash !== settings.teacherHash) throw new SourceMismatch(`teacher hash ${src.opened.hash.slice(0, 12)}… here, ${settings.teacherHash.slice(0, 12)}… on the coordinator: ${what} is not the same teacher on this machine`);
  if (src.datasetHash !== settings.datasetHash || src.data.size !== settings.numSamples) {
    throw new SourceMismatch(`data set hash ${src.datasetHash.slice(0, 12)}… (${src.data.size} samples) here, ${settings.datasetHash.slice(0, 12)}… (${settings.numSamples}) on the coordinator: ${what} is not the same data on this machine`);
  }
  if (src.teacher.numClasses !== settings.numClasses) throw new SourceMismatch(`the teacher has ${src.teacher.numClasses} outputs here, ${settings.numClasses} on the coordinator`);
  const { file, bytes, shard } = await encodeShard(src.teacher, src.data, settings, index, { batchSize: job.batchSize });
  // Another worker may have finished the same shard meanwhile (its job was handed on while this one ran): keep its file.
  if (shardOnDisk(dir, settings, index, numShards)) return done(shard.sha256, true);
  writeFileAtomic(join(dir, file), bytes);
  return done(shard.sha256, false);
}

export async function closeLabelSource(): Promise<void> {
  await current?.opened.close();
  current = null;
}
