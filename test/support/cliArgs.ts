/** `webpeft train` argument parsing for the CLI tests: parse extra flags after a minimal valid command line. */
import { expect } from 'vitest';
import { FlagReader, UsageError, parseFlags } from '../../cli/args';
import { parseTrainArgs } from '../../cli/trainArgs';

const BASE = ['--model', 'm', '--data', 'd.txt', '--out', 'o'];

export function parseTrain(...extra: string[]): ReturnType<typeof parseTrainArgs> {
  return parseTrainArgs(new FlagReader(parseFlags([...BASE, ...extra])));
}

/** The one-line UsageError message the flags give. */
export function trainError(...extra: string[]): string {
  try {
    parseTrain(...extra);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error(`no error for ${extra.join(' ')}`);
}
