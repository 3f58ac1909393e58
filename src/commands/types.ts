// The contract between doors and commands. A door turns its bytes into a CommandRequest, calls the handler from
// the table, and puts the handler's replies into its own envelope. Handlers never see a socket.
import type { Parts } from '../parts';
import type { Client, Frame } from '../core/frame';
import type { Outcome } from './outcome';

export interface CommandRequest {
  /** The command's name in the table. */
  readonly name: string;
  /** The name the peer used (`type` or `cmd`), echoed in replies. */
  readonly wireName: string;
  /** The request id (seed 000) or null. */
  readonly id: string | number | null;
  /** The whole request object as received (already checked to be a plain object). */
  readonly body: Frame;
  /** What a dialect's input adapter asks of the handler beyond the body (see KitShape.input). */
  readonly options?: CommandOptions;
}

/** The handler options a door's dialect may set; a local `type` request sets none. */
export interface CommandOptions {
  /**
   * subscribe_apis / unsubscribe_apis: the requester's one subscription `id`, a lease of full-set frames that lapses
   * `ttlS` seconds after the last subscribe (a Kit-Manager frontend resends it every 30 s).
   */
  readonly lease?: { readonly id: string; readonly ttlS: number };
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

/**
 * Returns the final reply body, or an Outcome that the dialect words (commands/outcome.ts), or undefined when
 * everything was emitted already. Throws CommandError.
 */
export type Handler = (ctx: CommandContext, req: CommandRequest) => Promise<Frame | Outcome | undefined> | Frame | Outcome | undefined;

/**
 * The Kit-Manager dialect of a command (commands/kit/): pure adapters around its one handler, the way undici composes
 * behaviour around its one dispatch. A `cmd` request runs input → handler → render (interim frames through progress);
 * a `type` request (either door) runs the handler alone. Only the dialect speaks the Python runtime's words.
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
  /** The frontend's request → the handler's (its body in the local form, options such as subscribe_apis' lease). */
  readonly input?: (ctx: CommandContext, req: CommandRequest) => CommandRequest;
  /** The handler's reply (an Outcome already in words) → the reply the frontend reads (a failure also as a log line…). */
  readonly render?: (ctx: CommandContext, req: CommandRequest, result: Frame) => Frame;
  /** An interim frame of the handler → the frames the frontend reads in its place (none, one or more). */
  readonly progress?: (req: CommandRequest, frame: Frame) => Frame[];
}

/**
 * One command, whichever door it comes through. The doors' dialects shape its replies: the local API (and a `type`
 * request through the Kit-Manager) as `{type: responseType ?? "<name>-response", id, ...body}`, a Kit-Manager `cmd` as
 * `{cmd, request_from, kit_id, ...body}` with the KitShape's differences.
 */
export interface Command {
  readonly handler: Handler;
  /** The local reply's type; defaults to `<name>-response`. */
  readonly responseType?: string;
  /** The Kit-Manager dialect of this command (see KitShape). */
  readonly kit?: KitShape;
}
