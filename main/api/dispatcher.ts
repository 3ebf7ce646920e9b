import { TidemarkError, toErrorInfo } from '../engine/errors.js';
import type { Logger } from '../engine/log/logger.js';
import { isMethodName, methods, type Envelope, type MethodName } from './contract/index.js';
import type { Handlers } from './handlers/index.js';

/** Who is calling: a renderer frame over Electron IPC, or an authenticated web-bridge client. */
export type Caller =
  | { transport: 'ipc'; frameUrl: string; isMainFrame: boolean }
  | { transport: 'bridge' };

export interface DispatcherOptions {
  handlers: Handlers;
  /** origins (scheme://host) whose main frame may call over IPC */
  trustedOrigins: readonly string[];
  logger?: Logger;
}

export type Dispatch = (caller: Caller, method: unknown, input: unknown) => Promise<Envelope<unknown>>;

/**
 * The one entry point of every API call: checks the caller, validates the input against
 * the contract, runs the handler and validates what it returns, and answers an envelope.
 */
export function createDispatcher(options: DispatcherOptions): Dispatch {
  return async (caller, method, input) => {
    try {
      checkCaller(caller, options.trustedOrigins);
      if (!isMethodName(method)) {
        throw new TidemarkError('invalid_input', `Unknown method ${JSON.stringify(String(method)).slice(0, 80)}.`);
      }
      const spec = methods[method];
      const parsed = spec.input.safeParse(input ?? {});
      if (!parsed.success) {
        const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
        throw new TidemarkError('invalid_input', `Invalid input for ${method}: ${where}`);
      }
      const handler = options.handlers[method as MethodName] as (input: unknown) => Promise<unknown>;
      const value = spec.output.parse(await handler(parsed.data));
      return { ok: true, value };
    } catch (err) {
      const info = toErrorInfo(err);
      if (info.code === 'internal') options.logger?.error({ err, method }, 'API call failed');
      else options.logger?.debug({ code: info.code, method }, 'API call refused');
      return { ok: false, error: info };
    }
  };
}

function checkCaller(caller: Caller, trustedOrigins: readonly string[]): void {
  if (caller.transport === 'bridge') return;
  let origin: string;
  try {
    const url = new URL(caller.frameUrl);
    // WHATWG URL gives custom schemes (app://tidemark) the opaque origin "null": build it.
    origin = url.protocol === 'file:' ? 'file://' : url.origin !== 'null' ? url.origin : url.host ? `${url.protocol}//${url.host}` : 'null';
  } catch {
    throw new TidemarkError('forbidden_sender', 'Calls are accepted only from the Tidemark window.');
  }
  if (!caller.isMainFrame || !trustedOrigins.includes(origin)) {
    throw new TidemarkError('forbidden_sender', 'Calls are accepted only from the Tidemark window.');
  }
}
