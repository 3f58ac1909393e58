// What a handler returns for a command whose reply says in words whether it worked (read-file, write-file,
// set_vars_value, install_python_packages, set_mock_signals, generate/revert_vehicle_model, stop_python_app): done,
// or failed with the sentence its reply's `result` carries, and the reply's other fields. The word of a success is
// the Python runtime's; only the Kit-Manager dialect speaks it: dispatch renders every Outcome with
// commands/kit/words.ts, for both doors, since the local protocol's replies of these commands have carried the same
// word since 0.1.0 (docs/local-api.md, docs/signals.md).
import type { Frame } from '../core/frame';

export class Outcome {
  private constructor(
    /** True when the command did all it was asked. */
    readonly ok: boolean,
    /** The reply's fields besides `result`. */
    readonly fields: Frame,
    /** When not ok: the reply's `result`, in the command's own words ("Failed", "Failed: …", pip's reason). */
    readonly failure: string | null,
  ) {}

  /** It worked; `fields` are the rest of the reply. */
  static done(fields: Frame = {}): Outcome { return new Outcome(true, fields, null); }

  /** It did not (wholly) work: `result` says so as the reply's `result`, `fields` the rest (`error`, what did take). */
  static failed(result: string, fields: Frame = {}): Outcome { return new Outcome(false, fields, result); }

  /** The same outcome with more fields in its reply. */
  with(fields: Frame): Outcome { return new Outcome(this.ok, { ...this.fields, ...fields }, this.failure); }
}
