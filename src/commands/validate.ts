// Field checks shared by every handler: one line of error text naming the field and what it should be.
import { badRequest } from '../core/errors';
import type { Frame } from '../core/frame';

export function isPlainObject(v: unknown): v is Frame {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function str(body: Frame, key: string, opts: { max?: number; optional?: false }): string;
export function str(body: Frame, key: string, opts: { max?: number; optional: true }): string | undefined;
export function str(body: Frame, key: string, opts: { max?: number; optional?: boolean } = {}): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw badRequest(`${key}: required, expected a string`);
  }
  if (typeof v !== 'string') throw badRequest(`${key}: expected a string, got ${typeName(v)}`);
  if (opts.max !== undefined && v.length > opts.max) throw badRequest(`${key}: longer than ${opts.max} characters`);
  return v;
}

export function int(body: Frame, key: string, opts: { min: number; max: number; def?: number }): number {
  const v = body[key];
  if (v === undefined || v === null) {
    if (opts.def !== undefined) return opts.def;
    throw badRequest(`${key}: required, expected an integer`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < opts.min || v > opts.max) {
    throw badRequest(`${key}: expected an integer from ${opts.min} to ${opts.max}, got ${JSON.stringify(v)?.slice(0, 40)}`);
  }
  return v;
}

export function obj(body: Frame, key: string, optional = false): Frame | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw badRequest(`${key}: required, expected an object`);
  }
  if (!isPlainObject(v)) throw badRequest(`${key}: expected an object, got ${typeName(v)}`);
  return v;
}

export function strList(body: Frame, key: string, opts: { maxItems: number; maxLen: number }): string[] {
  const v = body[key];
  if (!Array.isArray(v)) throw badRequest(`${key}: expected an array of strings, got ${typeName(v)}`);
  if (v.length > opts.maxItems) throw badRequest(`${key}: more than ${opts.maxItems} entries`);
  for (const [i, s] of v.entries()) {
    if (typeof s !== 'string') throw badRequest(`${key}[${i}]: expected a string, got ${typeName(s)}`);
    if (s.length > opts.maxLen) throw badRequest(`${key}[${i}]: longer than ${opts.maxLen} characters`);
  }
  return v as string[];
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
