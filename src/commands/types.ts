// The contract between doors and commands. A door turns its bytes into a CommandRequest, calls the handler from
// the table, and puts the handler's replies into its own envelope. Handlers never see a socket.
import type { Parts } from '../parts';
import type { Client, Frame } from '../core/frame';

export interface CommandRequest {
  /** The canonical command name (after the table mapped legacy names). */
  readonly name: string;
  /** The name the peer used (`type` or `cmd`), echoed in replies. */
  readonly wireName: string;
  /** The request id (seed 000) or null. */
  readonly id: string | number | null;
  /** The whole request object as received (already checked to be a plain object). */
  readonly body: Frame;
}

export interface CommandContext {
  readonly parts: Parts;
  readonly client: Client;
  /**
   * Send an interim or streamed reply to the requester (progress lines, ad-hoc run output). The door adds its
   * envelope: the local API adds the request id; the Kit-Manager link adds cmd, request_from and kit_id.
   */
  emit(frame: Frame): void;
}

/** Returns the final reply body (or undefined when everything was emitted already). Throws CommandError. */
export type Handler = (ctx: CommandContext, req: CommandRequest) => Promise<Frame | undefined> | Frame | undefined;

/**
 * How the reply travels. `seed`: the local API shape `{type: "<name>-response", id, ...body}`.
 * `legacy`: the Kit-Manager `cmd` shape `{cmd, request_from, kit_id, ...body}`; over the local API the same body
 * is sent as `<name>-response` with the id.
 */
export type ReplyStyle = 'seed' | 'legacy';

/**
 * How the Kit-Manager frontend shows a command's replies, where that differs from the default (`cmd` = the request's,
 * the reason of a failure in `result`/`error`). The Kit-Manager door reads it; the local API ignores it.
 */
export interface KitShape {
  /** The `cmd` its replies carry, when the frontend shows them only under another name (C++ output as run_bin_app). */
  readonly cmd?: string;
  /**
   * The frontend prints `result` of `isDone: false` replies under this cmd and only "Exit code N" for the final one:
   * a failure first sends `{cmd: <this>, isDone: false, result: "Error: <reason>\r\n"}`, then the error reply.
   */
  readonly errorLine?: string;
  /** Fields added to an error reply where the frontend's view reads them (install: `data`; read-file: `data.content`). */
  readonly errorFields?: (req: CommandRequest, message: string) => Frame;
}

export interface Command {
  readonly handler: Handler;
  readonly style: ReplyStyle;
  /** Response type for the seed style; defaults to `<name>-response`. */
  readonly responseType?: string;
  /** Reply shapes of the Kit-Manager door (see KitShape). */
  readonly kit?: KitShape;
}
