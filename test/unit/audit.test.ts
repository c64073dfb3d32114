import { describe, expect, it } from 'vitest';
import { answered, routeAction } from '../../src/api/audit.js';
import { PERMISSIONS } from '../../src/api/authz.js';
import { eventId } from '../../src/store/event-log.js';
import { Keys } from '../../src/store/keys.js';

describe('audit events', () => {
  it("names a request's event by its route's declared action: the noun is the object's kind", () => {
    expect(routeAction('vm:create')).toEqual({ kind: 'vm', action: 'vm.create' });
    expect(routeAction('image-store:create')).toEqual({ kind: 'image-store', action: 'image-store.create' });
    expect(routeAction('user:quota-set')).toEqual({ kind: 'user', action: 'user.quota-set' });
    // Every declared action makes one: a kind and a dotted action.
    for (const a of Object.keys(PERMISSIONS)) expect(routeAction(a).action).toMatch(/^[a-z-]+\.[a-z-]+$/);
  });

  it("reads the object from a success and the code from a failure, nothing from other answers", () => {
    expect(answered('{"id":"x","name":"web1","owner":"alice","cpu":1}', 201)).toEqual({ id: 'x', name: 'web1', owner: 'alice' });
    expect(answered(Buffer.from('{"code":"VM_NAME_TAKEN","message":"taken"}'), 409)).toEqual({ code: 'VM_NAME_TAKEN', message: 'taken' });
    expect(answered('null', 204)).toBeUndefined();
    expect(answered('{not json', 200)).toBeUndefined();
    expect(answered(undefined, 204)).toBeUndefined();
  });

  it('sorts ids by time and keeps owners apart', () => {
    const a = eventId(999);
    const b = eventId(1_764_608_400_123);
    expect(a < b).toBe(true);
    expect(a).toMatch(/^0000000000999-[0-9a-f]{8}$/);
    expect(Keys.event('alice', b).startsWith(Keys.eventsOf('alice'))).toBe(true);
    expect(Keys.event('alice', b).startsWith(Keys.eventsOf('al'))).toBe(false);
    expect(Keys.event('', b)).toBe(`event/-/${b}`);
    expect(() => Keys.event('a/b', b)).toThrow();
  });

  it("never gives one writer's ids made in one millisecond twice", () => {
    const ids = Array.from({ length: 3000 }, () => eventId(1_764_608_400_123));
    expect(new Set(ids).size).toBe(3000);
    for (const id of ids) expect(id).toMatch(/^1764608400123-[0-9a-f]{8}$/);
    // A tenant holding two of its own ids cannot count the events others recorded between them.
    const steps = new Set(ids.slice(1).map((id, i) => (parseInt(id.slice(14), 16) - parseInt(ids[i]!.slice(14), 16)) >>> 0));
    expect(steps.size).toBeGreaterThan(2900);
  });
});
