#!/usr/bin/env node
// Runs the TypeScript sources through tsx, or the compiled build when present.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// `notifypro runner` loads the runner's own entry only (grammY and its internal-API client),
// not the api, worker and supervisor behind main.ts: one runner per bot, so memory counts.
const runner = process.argv[2] === 'runner';
const name = runner ? 'runner/entry' : 'main';
const built = fileURLToPath(new URL(`../dist/${name}.js`, import.meta.url));
let entry;
if (existsSync(built)) {
  entry = await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = await import(new URL(`../src/${name}.ts`, import.meta.url).href);
}
if (runner) await entry.runRunnerProcess();
