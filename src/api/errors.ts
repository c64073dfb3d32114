import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { UcloudError, type ErrorBody } from '../common/errors.js';

interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Turns schema-validation output into one of the catalogue's errors, naming the field. */
function fromValidation(issues: ValidationIssue[], part: string | undefined): UcloudError {
  const unknown = issues.find((i) => i.keyword === 'additionalProperties');
  if (unknown) {
    const names = (unknown.params?.additionalProperties as string[] | undefined) ?? [];
    return new UcloudError('UNKNOWN_FIELD', `unknown field${names.length > 1 ? 's' : ''} in ${part ?? 'request'}: ${names.join(', ') || '(unnamed)'}`, { details: { fields: names } });
  }
  const first = issues[0];
  // A path parameter is always a name or a reference built from names.
  if (part === 'params') {
    const param = first?.instancePath?.replace(/^\//, '') || 'parameter';
    return new UcloudError('INVALID_NAME', `the ${param} in the path is not a valid name or reference`, { details: { param } });
  }
  const where = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : (part ?? 'request');
  const required = first?.keyword === 'required' ? ((first.params?.requiredProperties as string[] | undefined) ?? []) : [];
  const message = required.length ? `missing field${required.length > 1 ? 's' : ''}: ${required.join(', ')}` : `${where}: ${first?.message ?? 'is invalid'}`;
  return new UcloudError('VALIDATION_FAILED', message, { details: { issues: issues.map((i) => ({ path: i.instancePath, message: i.message })) } });
}

/** The one place an error becomes an HTTP answer. 5xx answers carry no internals. */
export function toHttpError(err: unknown): UcloudError {
  if (err instanceof UcloudError) return err;
  const fe = err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (fe.validation) return fromValidation(fe.validation, fe.validationContext);
  if (fe.code === 'FST_ERR_BAD_URL') return new UcloudError('VALIDATION_FAILED', 'the path is not a valid URL (bad percent-encoding)');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fe.statusCode === 404 ? 'NOT_FOUND' : fe.statusCode === 413 ? 'REQUEST_BODY_TOO_LARGE' : 'VALIDATION_FAILED';
    return new UcloudError(code, fe.message);
  }
  return new UcloudError('INTERNAL', 'internal error', { cause: err });
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const e = toHttpError(err);
  const status = e.httpStatus;
  let body: ErrorBody = e.toBody();
  if (status >= 500) {
    req.log.error({ err: e.cause ?? err, reqId: req.id, code: e.code }, 'request failed');
    if (e.code === 'INTERNAL') body = { code: 'INTERNAL', message: `internal error (request ${req.id}); see the api log` };
  }
  void reply.status(status).send(body);
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  void reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } satisfies ErrorBody);
}


/** Node's parser error codes for a request it gave up on, by catalogue code. */
function clientErrorCode(err: { code?: string }): 'REQUEST_HEADERS_TOO_LARGE' | 'REQUEST_TIMEOUT' | 'MALFORMED_REQUEST' {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'REQUEST_HEADERS_TOO_LARGE';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') return 'REQUEST_TIMEOUT';
  return 'MALFORMED_REQUEST';
}

const CLIENT_ERROR_MESSAGES = {
  REQUEST_HEADERS_TOO_LARGE: 'the request headers are larger than the server accepts',
  REQUEST_TIMEOUT: 'the request did not arrive in time',
  MALFORMED_REQUEST: 'the request is not valid HTTP',
} as const;

/**
 * A request Node's HTTP parser refused before any route could see it
 * (malformed bytes, headers too large, too slow): answered in the same shape
 * as every other error, with `Connection: close`, because the connection
 * cannot carry another request after it.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code = clientErrorCode(err);
  const e = new UcloudError(code, CLIENT_ERROR_MESSAGES[code]);
  const body = JSON.stringify(e.toBody());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.httpStatus} ${STATUS_CODES[e.httpStatus] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
