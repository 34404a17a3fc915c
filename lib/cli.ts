#!/usr/bin/env node
/** The `sparsekit` executable: connects runCli (lib/cli/main.ts) to the process. */
import { runCli } from './cli/main.js';

const controller = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  // First Ctrl-C: stop after the current layer and remove the partial output; second: exit now.
  if (interrupted) process.exit(130);
  interrupted = true;
  controller.abort();
});

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTTY: !!process.stderr.isTTY,
}, controller.signal);
process.exitCode = code;
