// `kv`: this plugin's own durable key-value state, kept by the host.
//
// Keys belong to this plugin (by the id the host's config gives it) on the
// Page of the event being handled; no other plugin can read them. A write
// returns once it is on disk. A retried event runs its calls again, so use
// `compareAndSwap` or `increment` where a repeat would matter. Limits (host
// `[limits]`): keys up to 512 bytes, values up to `kv_value_bytes`, the
// namespace up to `kv_namespace_bytes`; each call is one of the event's
// host calls. Failures throw a `KvError`.

import * as host from "switchboard:plugin/kv@0.2.0";
import { kvCall } from "./errors";

/** A value: bytes, or text (stored as UTF-8). */
export type KvValue = Uint8Array | string;

/** Options of a write. */
export interface KvWriteOptions {
  /** The key expires this many milliseconds from now. */
  ttlMs?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const bytes = (value: KvValue): Uint8Array => (typeof value === "string" ? encoder.encode(value) : value);

function ttl(options?: KvWriteOptions): bigint | undefined {
  if (options?.ttlMs === undefined) return undefined;
  return BigInt(Math.max(1, Math.ceil(options.ttlMs)));
}

/** The value at `key`, if it exists and has not expired. */
export function get(key: string): Uint8Array | undefined {
  return kvCall(() => host.get(key));
}

/** The value at `key` as text (invalid UTF-8 is replaced). */
export function getString(key: string): string | undefined {
  const value = get(key);
  return value === undefined ? undefined : decoder.decode(value);
}

/** The value at `key` parsed as JSON. */
export function getJson<T = unknown>(key: string): T | undefined {
  const text = getString(key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

/** Sets `key`; with `ttlMs` it expires that long from now. */
export function set(key: string, value: KvValue, options?: KvWriteOptions): void {
  kvCall(() => host.set(key, bytes(value), ttl(options)));
}

/** Sets `key` to text. */
export function setString(key: string, value: string, options?: KvWriteOptions): void {
  set(key, value, options);
}

/** Sets `key` to `value` as JSON. */
export function setJson(key: string, value: unknown, options?: KvWriteOptions): void {
  set(key, JSON.stringify(value), options);
}

/** Removes `key`; true if it existed. */
function remove(key: string): boolean {
  return kvCall(() => host.delete(key));
}
export { remove as delete };

/**
 * Sets `key` to `next` only if its value is `expected` now (`undefined`:
 * only if absent); true if it did.
 */
export function compareAndSwap(key: string, expected: KvValue | undefined, next: KvValue, options?: KvWriteOptions): boolean {
  return kvCall(() => host.compareAndSwap(key, expected === undefined ? undefined : bytes(expected), bytes(next), ttl(options)));
}

/** Adds `delta` (default 1) to the decimal integer at `key` (absent counts as 0) and returns the new value; keeps the key's expiry. */
export function increment(key: string, delta = 1): number {
  if (!Number.isSafeInteger(delta)) throw new RangeError(`kv.increment: delta ${delta} is not a safe integer`);
  return Number(kvCall(() => host.increment(key, BigInt(delta))));
}

/** Keys starting with `prefix`, in byte order, at most `limit` (≤ 1000, the default). */
export function listKeys(prefix = "", limit = 1000): string[] {
  return kvCall(() => host.listKeys(prefix, limit));
}
