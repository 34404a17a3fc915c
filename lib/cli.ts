#!/usr/bin/env node
/** The `sparsekit` executable: connects runCli (lib/cli/main.ts) to the process. */
import { runCli } from './cli/main.js';

// A reader that went away (`sparsekit inspect big.safetensors | head`) ends the program quietly,
// as Unix tools do, instead of an unhandled EPIPE stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });

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
