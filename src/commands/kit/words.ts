// The Python runtime's words that the Autowrx frontend reads in `result` (shared/kit-manager-protocol.md). Only the
// Kit-Manager dialect (this folder) speaks them; src/ has no other 'Successful' (test/unit/kit-words.ts checks).
export const SUCCESSFUL = 'Successful';
