// The script a user would write instead of floradrop, on the official TypeScript SDK
// (@flora-ai/flora): a fixed pool of workers, each taking the next file and doing
// upload -> create the run -> poll every POLL_MS -> download the outputs.
//
// scripts/bench.py (case "sdk") installs the SDK with npm into a cache directory and runs:
//
//   FLORA_BASE_URL=... FLORA_API_KEY=... node sdk_baseline.mjs IN_DIR OUT_DIR \
//       --workspace ws_... --technique cctv-cam --runs 8 --uploads 8 --poll-ms 2000
//
// It prints one JSON line: {"files": n, "seconds": s, "requests": {...}}. The SDK is
// resolved from NODE_PATH-like SDK_DIR (the npm prefix bench.py installed it into).

import { createRequire } from 'node:module';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const [inDir, outDir] = args;
const workspace = option('workspace');
const technique = option('technique', 'cctv-cam');
const runs = Number(option('runs', '8'));
const uploads = Number(option('uploads', '8'));
const pollMs = Number(option('poll-ms', '2000'));

const require = createRequire(path.join(process.env.SDK_DIR ?? process.cwd(), 'package.json'));
const FLORA = require('@flora-ai/flora');

const started = performance.now();
const requests = {};
const countingFetch = (url, init) => {
  const u = new URL(url);
  const key = `${init?.method ?? 'GET'} ${u.pathname.replace(/[a-z]+_[A-Za-z0-9]+/g, '{id}')}`;
  requests[key] = (requests[key] ?? 0) + 1;
  return fetch(url, init);
};
const client = new FLORA({ fetch: countingFetch });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// At most `uploads` uploads at once (with `runs` workers this only matters if uploads < runs).
let uploading = 0;
const waiters = [];
async function withUploadSlot(fn) {
  while (uploading >= uploads) await new Promise((resolve) => waiters.push(resolve));
  uploading += 1;
  try {
    return await fn();
  } finally {
    uploading -= 1;
    waiters.shift()?.();
  }
}

async function processFile(name) {
  const asset = await withUploadSlot(() =>
    client.assets.upload(path.join(inDir, name), { workspace_id: workspace }),
  );
  let run = await client.techniques.runs.create(technique, {
    inputs: [{ id: 'input_image', type: 'imageUrl', value: asset.url }],
    mode: 'async',
  });
  while (run.status !== 'completed' && run.status !== 'failed') {
    await sleep(pollMs);
    run = await client.techniques.runs.retrieve(run.run_id, { techniqueId: technique });
  }
  if (run.status !== 'completed') throw new Error(`${name}: run ${run.run_id} failed`);
  const stem = name.replace(/\.[^.]+$/, '');
  for (const [n, output] of (run.outputs ?? []).entries()) {
    const response = await countingFetch(output.url);
    if (!response.ok) throw new Error(`${name}: download ${response.status}`);
    const ext = path.extname(new URL(output.url).pathname) || '.bin';
    await writeFile(
      path.join(outDir, `${stem}.${technique}${n ? `-${n}` : ''}${ext}`),
      Buffer.from(await response.arrayBuffer()),
    );
  }
}

const files = (await readdir(inDir)).filter((n) => !n.startsWith('.')).sort();
await mkdir(outDir, { recursive: true });
let next = 0;
async function worker() {
  while (next < files.length) {
    const name = files[next++];
    await processFile(name);
  }
}
await Promise.all(Array.from({ length: runs }, worker));
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ files: files.length, seconds, requests }));
