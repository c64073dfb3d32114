import { UcloudError } from '../../common/errors.js';
import { ErrorResponse, ForUserQuery, NoContent, TotpCodeRequest, TotpDisableRequest, TotpStarted, TotpStatus } from '../../model/index.js';
import { can } from '../authz.js';
import type { Api, Managers } from '../context.js';

// A user's optional second factor for making tokens (TOTP, RFC 6238). The
// secret is answered once, by the enable; a first code confirms it.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function totpRoutes(api: Api, m: Managers): void {
  api.get('/v1/totp', { config: { action: 'totp:read' }, schema: { operationId: 'getTotp', response: { 200: TotpStatus, ...errors } } }, async (req) => m.users.totp.status(req.user.name));

  api.post('/v1/totp', { config: { action: 'totp:enable' }, schema: { operationId: 'enableTotp', response: { 201: TotpStarted, ...errors } } }, async (req, reply) =>
    reply.status(201).send(await m.users.totp.begin(req.user.name)),
  );

  api.post('/v1/totp/confirm', { config: { action: 'totp:enable' }, schema: { operationId: 'confirmTotp', body: TotpCodeRequest, response: { 200: TotpStatus, ...errors } } }, async (req) => {
    await m.users.totp.confirm(req.user.name, req.body.totp);
    return { enabled: true, pending: false };
  });

  // The owner turns it off with a code; an admin turns off another user's (a lost phone) with ?user= and no code.
  api.delete('/v1/totp', { config: { action: 'totp:disable' }, schema: { operationId: 'disableTotp', querystring: ForUserQuery, body: TotpDisableRequest, response: { 204: NoContent, ...errors } } }, async (req, reply) => {
    const other = req.query.user !== undefined && req.query.user !== req.user.name;
    if (other && !can(req.user, 'totp:disable-any')) throw new UcloudError('FORBIDDEN', "only an admin turns off another user's second factor");
    if (!other && !req.body.totp) throw new UcloudError('TOTP_REQUIRED', 'turning your second factor off needs a current code');
    if (other && !(await m.users.get(req.query.user!))) throw new UcloudError('USER_NOT_FOUND', `user "${req.query.user}" does not exist`);
    await m.users.totp.disable(other ? req.query.user! : req.user.name, other ? undefined : req.body.totp);
    return reply.status(204).send(null);
  });
}
