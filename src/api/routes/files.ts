import { Type } from 'typebox';
import { ErrorResponse, UserFile } from '../../model/index.js';
import type { Api, Managers } from '../context.js';

// Files: each user sees only the files in their own folder.

export function fileRoutes(api: Api, m: Managers): void {
  api.get('/v1/files', { schema: { response: { 200: Type.Array(UserFile), 401: ErrorResponse } } }, async (req) => m.files.list(req.user.name));
}
