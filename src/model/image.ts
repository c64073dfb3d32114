import { Type, type Static } from 'typebox';
import { Bytes, ErrorInfo, ImageRef, Name, Text, Timestamp, Uuid } from './common.js';

export const ImageStore = Type.Object(
  {
    name: Name,
    driver: Type.String({ pattern: '^[a-z][a-z0-9]*$' }),
    settings: Type.Record(Type.String(), Type.Unknown()),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type ImageStore = Static<typeof ImageStore>;

export const ImageStatus = Type.Union([Type.Literal('pending'), Type.Literal('importing'), Type.Literal('ready'), Type.Literal('error'), Type.Literal('deleting')]);
export type ImageStatus = Static<typeof ImageStatus>;

export const ImageVolume = Type.Object(
  { ref: Type.String(), format: Type.Union([Type.Literal('raw'), Type.Literal('qcow2')]), virtualSize: Bytes },
  { additionalProperties: false },
);

/** An image in a store; only `ready` images can back a VM disk. */
export const Image = Type.Object(
  {
    name: Name,
    store: Name,
    owner: Name,
    public: Type.Boolean(),
    status: ImageStatus,
    volume: Type.Optional(ImageVolume),
    progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** The user file it is made from (absent for images registered by an operator). */
    source: Type.Optional(Type.Object({ fileId: Uuid, name: Type.String(), sha512: Type.String() }, { additionalProperties: false })),
    error: Type.Optional(ErrorInfo),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Image = Static<typeof Image>;

/** `/:ref`: an image by "name" or "owner/name" (slash encoded). */
export const ImageRefParams = Type.Object({ ref: ImageRef }, { additionalProperties: false });
/** `/:owner/:name`: "owner/name" arrives as two segments when the slash is not encoded. */
export const ImageOwnerParams = Type.Object({ owner: Name, name: Name }, { additionalProperties: false });

/** `POST /v1/images`: an image made from one of the caller's files (by the imagescanner). */
export const ImageCreateRequest = Type.Object(
  {
    name: Name,
    file: Text({ minLength: 1, maxLength: 1024, description: 'file name (as in `ucloud file list`) or id' }),
    store: Type.Optional(Name),
    public: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ImageCreateRequest = Static<typeof ImageCreateRequest>;

/** `POST /v1/image-stores`: the driver checks the settings (src/storage/registry.ts). */
export const ImageStoreCreateRequest = Type.Object(
  {
    name: Name,
    driver: Type.String({ minLength: 1, maxLength: 32 }),
    settings: Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 4096 }), Type.Boolean(), Type.Integer()])),
  },
  { additionalProperties: false },
);
export type ImageStoreCreateRequest = Static<typeof ImageStoreCreateRequest>;

/** `GET /v1/storage-drivers`: the names a store's `driver` may take. */
export const StorageDriverNames = Type.Array(Type.String());
