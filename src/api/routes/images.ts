import { Type } from 'typebox';
import { ErrorResponse, Image } from '../../model/index.js';
import type { Api, Managers } from '../context.js';

// Images: a user sees their own and the public ones.

export function imageRoutes(api: Api, m: Managers): void {
  api.get('/v1/images', { schema: { response: { 200: Type.Array(Image), 401: ErrorResponse } } }, async (req) => m.images.listVisible(req.user));
}
