import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { UcloudError } from '../../common/errors.js';
import { sortKey } from '../../common/page.js';
import { ErrorResponse, FileNameParams, FileUploadQuery, ListQuery, NoContent, UploadedFile, UserFile } from '../../model/index.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFrom } from '../pages.js';

// Files: each user sees only the files in their own folder, and uploads only into it.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse, 507: ErrorResponse };

/** The sha512 of an RFC 9530 `Content-Digest` field (`sha-512=:<base64>:`, perhaps among others), as hex. */
export function sha512FromContentDigest(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  const m = /(?:^|,)\s*sha-512\s*=\s*:([A-Za-z0-9+/]+={0,2}):\s*(?:,|$)/i.exec(field);
  const bytes = m ? Buffer.from(m[1]!, 'base64') : undefined;
  if (!bytes || bytes.length !== 64) throw new UcloudError('VALIDATION_FAILED', 'Content-Digest must hold sha-512=:<base64 of the 64-byte digest>: (RFC 9530)');
  return bytes.toString('hex');
}

/**
 * Refused before or while reading: the rest of the body is read and dropped,
 * so a client that sends all before reading gets the answer (fetch reads it
 * at once and stops sending); one that goes on longer than DISCARD_MS after
 * the answer is cut off.
 */
function discardRest(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  res.once('finish', () => {
    if (req.complete) return;
    // Checked when it fires: the client may have sent the rest meanwhile and reused the connection.
    const t = setTimeout(() => {
      if (!req.complete) req.socket.destroy();
    }, DISCARD_MS);
    t.unref();
    req.once('close', () => clearTimeout(t));
  });
}
const DISCARD_MS = 5000;

export function fileRoutes(api: Api, m: Managers): void {
  // By name (then id: a name is unique in a folder, but the filescanner's records may briefly repeat one).
  api.get('/v1/files', { config: { action: 'file:list' }, schema: { operationId: 'listFiles', querystring: ListQuery(), response: listResponses(UserFile) } }, async (req) =>
    pageFrom(`files/${req.user.name}`, await m.files.list(req.user.name), (f) => sortKey(f.name, f.id), req.query),
  );

  const uploads = m.uploads;
  if (!uploads) return;
  api.delete('/v1/files/:name', { config: { action: 'file:delete' }, schema: { operationId: 'deleteFile', params: FileNameParams, response: { 204: NoContent, ...errors } } }, async (req, reply) => {
    await uploads.delete(req.user.name, req.params.name);
    req.log.info({ user: req.user.name, name: req.params.name }, 'file deleted');
    return reply.status(204).send(null);
  });
  // Its own context: only this route takes application/octet-stream, handed on as
  // the raw stream (never buffered, so no bodyLimit applies; the upload counts).
  void api.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    (scope as Api).put(
      '/v1/files/:name',
      // streamsBody: the server's whole-body deadline does not apply; the upload's own idle timeout does.
      { config: { action: 'file:upload', streamsBody: true }, schema: { operationId: 'uploadFile', params: FileNameParams, querystring: FileUploadQuery, response: { 200: UploadedFile, ...errors } } },
      async (req, reply) => {
        const body = req.body as Readable | undefined;
        try {
          if (!body || typeof (body as Partial<Readable>).pipe !== 'function') {
            throw new UcloudError('VALIDATION_FAILED', 'send the file as the body, with Content-Type: application/octet-stream');
          }
          const lengthHeader = req.headers['content-length'];
          const t0 = Date.now();
          const done = await uploads.upload({
            owner: req.user.name,
            name: req.params.name,
            replace: req.query.replace ?? false,
            ...(m.quotas ? { quotaBytes: await m.quotas.filesBytes(req.user.name) } : {}),
            ...(lengthHeader !== undefined ? { length: Number(lengthHeader) } : {}),
            ...(req.headers['content-digest'] !== undefined ? { sha512: sha512FromContentDigest(String(req.headers['content-digest'])) } : {}),
            // Not destroyed when the upload stops reading: the answer must still reach the client.
            body: body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>,
          });
          req.log.info({ user: req.user.name, name: done.name, sizeBytes: done.sizeBytes, ms: Date.now() - t0, replace: req.query.replace ?? false }, 'file uploaded');
          return done;
        } catch (err) {
          if (err instanceof UcloudError && err.code === 'UPLOAD_INCOMPLETE' && err.details?.idleMs !== undefined) {
            // A client that stopped sending is not waited for (slow-loris): its connection goes, the part file is already removed.
            req.log.warn({ user: req.user.name, name: req.params.name, code: err.code, idleMs: err.details.idleMs }, 'upload idle: connection cut');
            req.raw.socket.destroy();
          } else if (body && !req.raw.complete) discardRest(req.raw, reply.raw);
          throw err;
        }
      },
    );
  });
}
