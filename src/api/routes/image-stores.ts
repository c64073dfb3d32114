import { ErrorResponse, ImageStore, ImageStoreCreateRequest, ListQuery, StorageDriverNames } from '../../model/index.js';
import { storageDriverNames } from '../../storage/registry.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFrom } from '../pages.js';

// Image stores: an admin creates them (idempotently: the same name and settings
// again is a no-op, other settings a conflict); everyone may list them.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse };

export function imageStoreRoutes(api: Api, m: Managers): void {
  api.post('/v1/image-stores', { config: { action: 'image-store:create' }, schema: { operationId: 'createImageStore', body: ImageStoreCreateRequest, response: { 200: ImageStore, ...errors } } }, async (req) => {
    return m.images.ensureStore(req.body.name, req.body.driver, req.body.settings);
  });
  api.get('/v1/image-stores', { config: { action: 'image-store:list' }, schema: { operationId: 'listImageStores', querystring: ListQuery(), response: listResponses(ImageStore) } }, async (req) =>
    pageFrom('image-stores', await m.images.listStores(), (s) => s.name, req.query),
  );
  api.get('/v1/storage-drivers', { config: { action: 'storage-driver:list' }, schema: { operationId: 'listStorageDrivers', response: { 200: StorageDriverNames } } }, async () => storageDriverNames());
}
