// The Python runtime's words that the Autowrx frontend reads in `result` (shared/kit-manager-protocol.md). Only the
// Kit-Manager dialect (this folder) speaks them; no other file of src/ says "Successful" (test/unit/dispatch.ts checks).
import type { Frame } from '../../core/frame';
import type { Outcome } from '../outcome';

export const SUCCESSFUL = 'Successful';

/**
 * A handler's Outcome as the reply says it: `{result: "Successful", …fields}`, or its failure's own sentence. Both
 * doors reply so (dispatch calls this before a Kit-Manager render): the local protocol's replies of these commands
 * have said `result: "Successful"` since 0.1.0, and a wire that worked stays as it is.
 */
export function outcomeReply(o: Outcome): Frame {
  return { result: o.ok ? SUCCESSFUL : o.failure, ...o.fields };
}
