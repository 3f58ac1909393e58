// Entry point of the single binary (scripts/build-sea.mjs): extract the embedded assets before any module that reads
// them is evaluated, then run the normal CLI. require() keeps that order; an import would be hoisted above the call.
import { bootstrapSea } from './sea';

try {
  bootstrapSea();
} catch (e) {
  process.stderr.write(`sdv-agent: ${(e as Error).message}\n`);
  process.exit(1);
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./main');
