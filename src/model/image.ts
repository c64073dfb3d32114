import { Type, type Static } from 'typebox';
import { Bytes, ErrorInfo, Name, Timestamp, Uuid } from './common.js';

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
