import { describe, expect, it } from 'vitest';
import { parseYaml, YamlSyntaxError } from '../../functions/lib/yaml.js';

describe('parseYaml (configuration files)', () => {
  it('should read plain values in the core schema: a date or a hex-looking token stays a string', () => {
    // Act
    const value = parseYaml('expires: 2026-12-04\ntoken: "0x1f"\nport: 6443\ninsecure: false\nempty: null\n');

    // Assess
    expect(value).toEqual({ expires: '2026-12-04', token: '0x1f', port: 6443, insecure: false, empty: null });
  });

  it('should say where a syntax error is, 1-based, and never quote the line', () => {
    // Act
    const error = (() => {
      try {
        parseYaml('users:\n  - name: admin\n    token: { secret-token-value\n');
      } catch (caught) {
        return caught;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(YamlSyntaxError);
    expect((error as YamlSyntaxError).where).toMatch(/^ at line \d+, column \d+$/);
    expect(String((error as Error).message)).not.toContain('secret-token-value');
  });

  it('should refuse several documents in one file', () => {
    expect(() => parseYaml('a: 1\n---\nb: 2\n')).toThrow(YamlSyntaxError);
  });

  it('should refuse a key given twice', () => {
    expect(() => parseYaml('token: a\ntoken: b\n')).toThrow(YamlSyntaxError);
  });
});
