import { UcloudError } from '../../common/errors.js';
import { ErrorResponse, Image, ImageCreateRequest, ImageOwnerParams, ImageRefParams, ListQuery } from '../../model/index.js';
import { sortKey } from '../../common/page.js';
import { can } from '../authz.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFrom } from '../pages.js';

// Images: a user sees and uses their own and the public ones; only the owner
// (or an admin) deletes one. Names are unique per owner: "name" is the caller's
// own image (else an admin's public one), "owner/name" anyone's visible one.
// Making an image from a file is recorded here and done by the imagescanner.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function imageRoutes(api: Api, m: Managers): void {
  // By name, then owner; what a user sees depends on who they are, so the list's name carries it.
  api.get('/v1/images', { config: { action: 'image:list' }, schema: { operationId: 'listImages', querystring: ListQuery(), response: listResponses(Image) } }, async (req) =>
    pageFrom(`images/${req.user.name}`, await m.images.listVisible(req.user), (i) => sortKey(i.name, i.owner), req.query),
  );

  api.get('/v1/images/:ref', { config: { action: 'image:read' }, schema: { operationId: 'getImage', params: ImageRefParams, response: { 200: Image, ...errors } } }, async (req) => m.images.find(req.user, req.params.ref));
  api.get('/v1/images/:owner/:name', { config: { action: 'image:read' }, schema: { operationId: 'getImageOfOwner', params: ImageOwnerParams, response: { 200: Image, ...errors } } }, async (req) =>
    m.images.find(req.user, `${req.params.owner}/${req.params.name}`),
  );

  api.post('/v1/images', { config: { action: 'image:create' }, schema: { operationId: 'createImage', body: ImageCreateRequest, response: { 202: Image, ...errors } } }, async (req, reply) => {
    const b = req.body;
    const files = await m.files.list(req.user.name);
    const file = files.find((f) => f.name === b.file || f.id === b.file);
    if (!file) throw new UcloudError('FILE_NOT_FOUND', `you have no file "${b.file}"`);
    return reply.status(202).send(await m.images.requestFromFile(req.user.name, b.name, await m.images.chooseStore(b.store), file, b.public ?? false, await m.quotas?.limitsOf(req.user.name)));
  });

  const remove = async (user: Parameters<Managers['images']['find']>[0], ref: string) => {
    const img = await m.images.find(user, ref);
    if (img.owner !== user.name && !can(user, 'image:delete-any')) throw new UcloudError('FORBIDDEN', `image "${ref}" belongs to ${img.owner}`);
    return m.images.requestDelete(img, user);
  };
  api.delete('/v1/images/:ref', { config: { action: 'image:delete' }, schema: { operationId: 'deleteImage', params: ImageRefParams, response: { 202: Image, ...errors } } }, async (req, reply) => reply.status(202).send((await remove(req.user, req.params.ref))!));
  api.delete('/v1/images/:owner/:name', { config: { action: 'image:delete' }, schema: { operationId: 'deleteImageOfOwner', params: ImageOwnerParams, response: { 202: Image, ...errors } } }, async (req, reply) =>
    reply.status(202).send((await remove(req.user, `${req.params.owner}/${req.params.name}`))!),
  );
}
