import { Type, type Static } from 'typebox';
import { Bytes, Name, Timestamp, Uuid } from './common.js';

/** A user's file as the filescanner last saw it: <files_path>/<owner>/<name>. */
export const UserFile = Type.Object(
  {
    id: Uuid,
    owner: Name,
    /** Path relative to the owner's folder; may contain sub-folders. */
    name: Type.String({ minLength: 1, maxLength: 1024 }),
    sizeBytes: Bytes,
    sha512: Type.String({ pattern: '^[0-9a-f]{128}$' }),
    mtimeMs: Type.Number(),
    seenAt: Timestamp,
  },
  { additionalProperties: false },
);
export type UserFile = Static<typeof UserFile>;

/** What `PUT /v1/files/:name` answers once the file is in place under its name. */
export const UploadedFile = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    sizeBytes: Bytes,
    sha512: Type.String({ pattern: '^[0-9a-f]{128}$' }),
  },
  { additionalProperties: false },
);
export type UploadedFile = Static<typeof UploadedFile>;

/** `/:name` of a file: its path under the owner's folder. */
export const FileNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false });
/** `PUT /v1/files/:name?replace=true` overwrites a file of that name. */
export const FileUploadQuery = Type.Object({ replace: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
