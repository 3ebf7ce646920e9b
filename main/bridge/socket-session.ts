import type { WebSocket } from 'ws';
import type { Dispatch } from '../api/dispatcher.js';
import type { Logger } from '../engine/log/logger.js';
import { parseBridgeRequest, refusal, type BridgeResponse } from './bridge-protocol.js';

/** Answers the API calls arriving on one authenticated WebSocket. */
export function serveSocket(ws: WebSocket, dispatch: Dispatch, logger?: Logger): void {
  const reply = (response: BridgeResponse) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(response));
  };
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      reply(refusal(null, 'Binary messages are not accepted; send JSON text.'));
      return;
    }
    const parsed = parseBridgeRequest(data.toString());
    if (!parsed.ok) {
      reply(parsed.response);
      return;
    }
    const { id, method, input } = parsed.request;
    // The dispatcher never throws: every failure comes back as an envelope.
    void dispatch({ transport: 'bridge' }, method, input).then((result) => reply({ id, result }));
  });
  ws.on('error', (err) => logger?.warn({ err }, 'web bridge socket error'));
}
