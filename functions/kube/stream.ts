/**
 * Answers that are streams of JSON objects, one a line (a watch), on a wire of their own: only a process that
 * follows the Nodes needs them (`node-watch-client.ts`).
 */

import { createGunzip } from 'node:zlib';
import type { KubeConfig } from '@kubernetes/client-node';
import { createWire, type KubeRequest, KubeTimeoutError, readBody, statusError } from './transport.js';

/** What a watch's caller hears: that the API server accepted it, then each event as it arrives. */
export interface StreamHandlers {
  /** The API server answered 200: from now on every change after the `resourceVersion` asked for comes. */
  onOpen(): void;
  /** One line of the answer, parsed (a watch event). */
  onObject(value: unknown): void;
}

/**
 * Sends a request whose answer is a stream of JSON objects, one a line (a watch), and hands each to
 * `handlers` as it arrives. Resolves when the API server ends the answer; rejects on an error status, a
 * broken connection, a line that is not JSON, `signal`, or when the answer outlives `limitMs`.
 */
export type Stream = (
  request: KubeRequest,
  limitMs: number,
  handlers: StreamHandlers,
  signal?: AbortSignal,
) => Promise<void>;

/**
 * Streams from the current cluster of a `KubeConfig`, as its current user; `onUnauthorized` is told of a 401.
 *
 * @example
 * const stream = createStream(config);
 * await stream({ method: 'GET', path: '/api/v1/nodes', query: { watch: 'true' } }, 8_000, handlers);
 */
export function createStream(config: KubeConfig, onUnauthorized?: () => void): Stream {
  const { prepare, send } = createWire(config);

  async function stream(
    request: KubeRequest,
    limitMs: number,
    handlers: StreamHandlers,
    signal?: AbortSignal,
  ): Promise<void> {
    const { wire, payload } = await prepare(request);
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      // Set once the stream failed: a chunk already read is not handed on after that.
      let failed = false;
      const outgoing = send(wire, (response) => {
        const status = response.statusCode ?? 0;
        if (status === 401) onUnauthorized?.();
        if (status < 200 || status >= 300) {
          readBody(response).then((text) => fail(statusError(status, text)), fail);
          return;
        }
        handlers.onOpen();
        const body =
          response.headers['content-encoding'] === 'gzip' ? response.pipe(createGunzip()) : response;
        let pending = '';
        body.on('data', (chunk: Buffer) => {
          if (failed) return;
          pending += chunk.toString('utf8');
          let end = pending.indexOf('\n');
          while (end >= 0) {
            const line = pending.slice(0, end).trim();
            pending = pending.slice(end + 1);
            end = pending.indexOf('\n');
            if (!line || failed) continue;
            try {
              handlers.onObject(JSON.parse(line));
            } catch (error) {
              return fail(error instanceof SyntaxError ? new Error('a watch line that is not JSON') : error);
            }
          }
        });
        body.on('end', () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', abort);
          resolve();
        });
        body.on('error', fail);
        if (body !== response) response.on('error', fail);
      });
      const fail = (error: unknown) => {
        failed = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        outgoing.destroy();
        reject(error);
      };
      const abort = () => fail(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', abort, { once: true });
      // The API server ends a watch after its `timeoutSeconds`; one that outlives the limit is a dead connection.
      const timer = setTimeout(
        () => fail(new KubeTimeoutError(`the stream was not ended within ${limitMs} ms`)),
        limitMs,
      );
      outgoing.on('error', fail);
      // A watch never holds the process up: it ends when everything else has (the agent refs a reused socket).
      outgoing.on('socket', (socket) => socket.unref());
      outgoing.end(payload);
    });
  }

  return stream;
}
