import { Type, type Static } from 'typebox';
import { Name, Text, Timestamp } from './common.js';

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user')]);
export type Role = Static<typeof Role>;

export const User = Type.Object(
  {
    name: Name,
    role: Role,
    createdAt: Timestamp,
    /** A disabled user's tokens are refused (USER_DISABLED); their objects stay. */
    disabled: Type.Optional(Type.Boolean()),
    disabledAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type User = Static<typeof User>;

/** `POST /v1/users`: the new user's first token comes back once (UserCreated). */
export const UserCreateRequest = Type.Object({ name: Name, role: Type.Optional(Role) }, { additionalProperties: false });
export type UserCreateRequest = Static<typeof UserCreateRequest>;
export const UserCreated = Type.Object({ user: User, token: Type.String() });
export type UserCreated = Static<typeof UserCreated>;

/** `?user=`: whose tokens or TOTP an admin means (their own when absent). */
export const ForUserQuery = Type.Object({ user: Type.Optional(Name) }, { additionalProperties: false });

export const TokenName = Name;

/**
 * Stored under the SHA-256 of the token: the token itself is never stored.
 * Tokens made before names existed have only a description; their id is
 * derived from the hash like every other's (tokenId), so they list and revoke alike.
 */
export const Token = Type.Object(
  {
    user: Name,
    createdAt: Timestamp,
    description: Type.String({ maxLength: 200 }),
    name: Type.Optional(TokenName),
    expiresAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type Token = Static<typeof Token>;

/** `token-name/<user>/<name>`: makes a token's name unique per user, and holds its hash. */
export const TokenNameRecord = Type.Object({ hash: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, { additionalProperties: false });
export type TokenNameRecord = Static<typeof TokenNameRecord>;

/** A token's public id: the first 12 hex digits of its hash (48 bits; the hash of a 256-bit secret reveals nothing). */
export const TOKEN_ID_PATTERN = '^[0-9a-f]{12}$';
export const TokenId = Type.String({ pattern: TOKEN_ID_PATTERN, description: 'a token id, as `ucloud token list` shows it' });

/** `/:id` of a token. */
export const TokenIdParams = Type.Object({ id: TokenId }, { additionalProperties: false });
/** `GET /v1/tokens` filter: `?user=` (admins) lists another user's. */
export const TokenListFilter = { user: Type.Optional(Name) };

/** What a token looks like from outside: never the secret, never the whole hash. */
export const TokenInfo = Type.Object(
  {
    id: TokenId,
    user: Name,
    name: Type.Optional(TokenName),
    description: Type.Optional(Type.String()),
    createdAt: Timestamp,
    expiresAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type TokenInfo = Static<typeof TokenInfo>;

export const TokenCreateRequest = Type.Object(
  {
    name: TokenName,
    /** A duration from now, e.g. "30d", "12h", "90m"; or give expiresAt. */
    expiresIn: Type.Optional(Text({ minLength: 1, maxLength: 20 })),
    expiresAt: Type.Optional(Timestamp),
    /** The authenticator's current code, when the user has enabled TOTP. */
    totp: Type.Optional(Type.String({ pattern: '^[0-9]{6}$' })),
  },
  { additionalProperties: false },
);
export type TokenCreateRequest = Static<typeof TokenCreateRequest>;

export const TokenCreated = Type.Object({ token: Type.String(), info: TokenInfo });
export type TokenCreated = Static<typeof TokenCreated>;

export const UserUpdateRequest = Type.Object({ disabled: Type.Boolean() }, { additionalProperties: false });
export type UserUpdateRequest = Static<typeof UserUpdateRequest>;

/**
 * `totp/<user>`: the user's second factor for making tokens. Kept apart from
 * the user record, which every user list and whoami answers with.
 */
export const TotpRecord = Type.Object(
  {
    secret: Type.String({ pattern: '^[A-Z2-7]+$' }),
    /** False until a first code proves the authenticator has the secret. */
    confirmed: Type.Boolean(),
    createdAt: Timestamp,
    /** The last time step a code was accepted for: a code works once. */
    lastStep: Type.Optional(Type.Integer()),
    /** Wrong codes in a row, and when the last came (a pause after too many). */
    failures: Type.Optional(Type.Integer({ minimum: 0 })),
    failedAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type TotpRecord = Static<typeof TotpRecord>;

export const TotpCode = Type.String({ pattern: '^[0-9]{6}$', description: 'the 6-digit code the authenticator shows now' });
export const TotpCodeRequest = Type.Object({ totp: TotpCode }, { additionalProperties: false });
export const TotpStarted = Type.Object({ otpauthUri: Type.String(), secret: Type.String() });
export const TotpStatus = Type.Object({ enabled: Type.Boolean(), pending: Type.Boolean() });
/** `DELETE /v1/totp`: the current code, unless an admin disables another user's. */
export const TotpDisableRequest = Type.Object({ totp: Type.Optional(TotpCode) }, { additionalProperties: false });
export type TotpDisableRequest = Static<typeof TotpDisableRequest>;
