#!/usr/bin/env node
/** The `sparsekit` executable: connects runCli (lib/cli/main.ts) to the process. */
import { runCli } from './cli/main.js';
import { removeUnfinishedTempFiles } from './safetensors-writer.js';

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
  // First Ctrl-C: stop after the current layer and remove the partial output; second: remove it and exit now.
  if (interrupted) {
    removeUnfinishedTempFiles();
    process.exit(130);
  }
  interrupted = true;
  controller.abort();
});
// A service manager's stop or a closed terminal: no waiting for the current layer (a SIGKILL may
// follow soon); the partial output is removed before exiting with 128 + the signal number.
for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129]] as const)
  process.on(signal, () => {
    removeUnfinishedTempFiles();
    process.exit(code);
  });

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTTY: !!process.stderr.isTTY,
}, controller.signal);
process.exitCode = code;
