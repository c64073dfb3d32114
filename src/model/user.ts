import { Type, type Static } from 'typebox';
import { Name, Timestamp } from './common.js';

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user')]);
export type Role = Static<typeof Role>;

export const User = Type.Object({ name: Name, role: Role, createdAt: Timestamp }, { additionalProperties: false });
export type User = Static<typeof User>;

/** Stored under the SHA-256 of the token: the token itself is never stored. */
export const Token = Type.Object(
  { user: Name, createdAt: Timestamp, description: Type.String({ maxLength: 200 }) },
  { additionalProperties: false },
);
export type Token = Static<typeof Token>;
