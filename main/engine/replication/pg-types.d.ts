/**
 * What `@types/pg` leaves out and the replication client relies on (pg 8.x): the `replication`
 * startup parameter and the undocumented but stable `Connection` methods that send COPY
 * messages. Events used on `Connection`: `copyOutResponse`, `replicationStart`
 * (CopyBothResponse), `copyDone`; `Client` routes the rest to the active Submittable. Already
 * typed there and used as well: `Connection.stream` (paused for backpressure) and `query(text)`.
 */
import 'pg';

declare module 'pg' {
  interface ClientConfig {
    /** `true` opens a physical walsender connection; `'database'` a logical one */
    replication?: boolean | 'database' | undefined;
  }

  interface Connection {
    /** CopyData to the server (standby status updates, UPLOAD_MANIFEST content) */
    sendCopyFromChunk(chunk: Buffer): void;
    /** CopyDone to the server */
    endCopyFrom(): void;
    /** CopyFail to the server */
    sendCopyFail(message: string): void;
  }
}
