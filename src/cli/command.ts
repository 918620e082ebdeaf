/** What every CLI command gets: its arguments and where to print. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export interface Command {
  /** e.g. "certs init" */
  name: string;
  /** one line for `countersign help` */
  summary: string;
  usage: string;
  /** what `countersign <command> --help` and `countersign help <command>` print: usage and options (default: the usage line) */
  help?: string;
  /** returns the process exit code */
  run(args: string[], io: CliIo): Promise<number>;
}
