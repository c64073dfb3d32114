import { Argument, Command, type Option } from 'commander';

/** One command of the tree as completion sees it: its path ("vm list"), subcommands, flags, which flags take a value and their choices. */
interface Node {
  path: string;
  subs: string[];
  flags: string[];
  valued: string[];
  choices: [string, string[]][];
  describe: [string, string][];
}

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

function flagsOf(o: Option): string[] {
  return [o.short, o.long].filter((f): f is string => f !== undefined);
}

/**
 * Every command of the tree, walked from the root: the scripts carry the tree
 * as it is in this build, so a new noun, verb or option completes without
 * touching them. The root's options (--output, --profile) hold at every level,
 * as commander accepts them there.
 */
function walk(root: Command): Node[] {
  const global = root.options as readonly Option[];
  const nodes: Node[] = [];
  const visit = (cmd: Command, path: string[]) => {
    const opts = [...(cmd === root ? [] : (cmd.options as readonly Option[])), ...global];
    const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    nodes.push({
      path: path.join(' '),
      // A leaf's first argument with fixed values (`completion <shell>`) completes like a subcommand.
      subs: subs.length ? [...subs.map((c) => c.name()), 'help'] : [...(cmd.registeredArguments[0]?.argChoices ?? [])],
      flags: [...opts.flatMap(flagsOf), '--help'],
      valued: opts.filter((o) => o.required || o.optional).flatMap(flagsOf),
      choices: opts.filter((o) => o.argChoices?.length).flatMap((o) => flagsOf(o).map((f): [string, string[]] => [f, o.argChoices!])),
      describe: [...subs.map((c): [string, string] => [c.name(), c.description()]), ...opts.filter((o) => o.long).map((o): [string, string] => [o.long!, o.description])],
    });
    for (const c of subs) visit(c, [...path, c.name()]);
  };
  visit(root, []);
  return nodes;
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** A description on one short line, as the shells show beside a candidate. */
const short = (s: string) => s.replace(/\s+/g, ' ').replace(/[:'\\]/g, ' ').slice(0, 70).trim();

/**
 * The lookup functions bash and zsh share: each maps a command path to its
 * words. Plain `case` statements, so they load in bash 3.2 (macOS) and zsh alike.
 */
function lookups(nodes: Node[]): string {
  const table = (fn: string, get: (n: Node) => string[]) =>
    [`${fn}() {`, '  case "$1" in', ...nodes.map((n) => `    ${sq(n.path)}) echo ${sq(get(n).join(' '))} ;;`), '  esac', '}'].join('\n');
  const choices = [
    '_ucloud_choices() {',
    '  case "$1|$2" in',
    ...nodes.flatMap((n) => n.choices.map(([f, c]) => `    ${sq(`${n.path}|${f}`)}) echo ${sq(c.join(' '))} ;;`)),
    '  esac',
    '}',
  ].join('\n');
  // Walks the typed words: a known subcommand deepens the path, a flag that takes a value skips that value.
  const pathOf = [
    '_ucloud_path() {',
    '  local p="" skip=0 w',
    '  for w in "$@"; do',
    '    if [ "$skip" = 1 ]; then skip=0; continue; fi',
    '    case "$w" in',
    '      --*=*) ;;',
    '      -*) case " $(_ucloud_valued "$p") " in *" $w "*) skip=1 ;; esac ;;',
    '      *) case " $(_ucloud_subs "$p") " in *" $w "*) p="${p:+$p }$w" ;; esac ;;',
    '    esac',
    '  done',
    '  echo "$p"',
    '}',
  ].join('\n');
  return [table('_ucloud_subs', (n) => n.subs.filter((s) => s !== 'help' || n.path === '')), table('_ucloud_flags', (n) => n.flags), table('_ucloud_valued', (n) => n.valued), choices, pathOf].join('\n\n');
}

function bash(nodes: Node[]): string {
  return `# bash completion for ucloud: source <(ucloud completion bash)
${lookups(nodes)}

_ucloud_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" p words
  COMPREPLY=()
  p="$(_ucloud_path "\${COMP_WORDS[@]:1:COMP_CWORD-1}")"
  if [ "$COMP_CWORD" -gt 1 ]; then prev="\${COMP_WORDS[COMP_CWORD-1]}"; fi
  # With "=" in COMP_WORDBREAKS (the default), --output=js arrives as "--output" "=" "js".
  if [ "$cur" = "=" ]; then
    COMPREPLY=($(compgen -P = -W "$(_ucloud_choices "$p" "$prev")" -- ""))
    return 0
  fi
  if [ "$prev" = "=" ] && [ "$COMP_CWORD" -gt 2 ]; then prev="\${COMP_WORDS[COMP_CWORD-2]}"; fi
  case " $(_ucloud_valued "$p") " in
    *" $prev "*)
      words="$(_ucloud_choices "$p" "$prev")"
      if [ -n "$words" ]; then COMPREPLY=($(compgen -W "$words" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
      return 0 ;;
  esac
  case "$cur" in
    --*=*)
      words="$(_ucloud_choices "$p" "\${cur%%=*}")"
      COMPREPLY=($(compgen -P "\${cur%%=*}=" -W "$words" -- "\${cur#*=}")) ;;
    -*) COMPREPLY=($(compgen -W "$(_ucloud_flags "$p")" -- "$cur")) ;;
    *)
      words="$(_ucloud_subs "$p")"
      if [ -n "$words" ]; then COMPREPLY=($(compgen -W "$words" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi ;;
  esac
}
complete -o default -F _ucloud_complete ucloud
`;
}

function zsh(nodes: Node[]): string {
  // zsh's own \`path\` is tied to PATH: the walk's result is kept in \`p\`, never \`path\`.
  return `#compdef ucloud
# zsh completion for ucloud: source <(ucloud completion zsh), or save it as _ucloud in a directory of $fpath
${lookups(nodes)}

_ucloud() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}" p vals
  p="$(_ucloud_path "\${(@)words[2,CURRENT-1]}")"
  case " $(_ucloud_valued "$p") " in
    *" $prev "*)
      vals="$(_ucloud_choices "$p" "$prev")"
      if [[ -n "$vals" ]]; then compadd -- \${=vals}; else _files; fi
      return ;;
  esac
  if [[ "$cur" == -* ]]; then
    compadd -- \${=$(_ucloud_flags "$p")}
  else
    vals="$(_ucloud_subs "$p")"
    if [[ -n "$vals" ]]; then compadd -- \${=vals}; else _files; fi
  fi
}
if (( $+functions[compdef] )); then compdef _ucloud ucloud; fi
`;
}

function fish(nodes: Node[]): string {
  const sw = (fn: string, get: (n: Node) => string[]) =>
    [`function ${fn}`, '    switch "$argv[1]"', ...nodes.map((n) => `        case ${sq(n.path)}\n            echo ${sq(get(n).join(' '))}`), '    end', 'end'].join('\n');
  const lines: string[] = [
    '# fish completion for ucloud: ucloud completion fish | source, or save it as ~/.config/fish/completions/ucloud.fish',
    sw('__ucloud_subs', (n) => n.subs.filter((s) => s !== 'help' || n.path === '')),
    sw('__ucloud_valued', (n) => n.valued),
    // The path of subcommands typed so far, skipping flags and the values of flags that take one.
    'function __ucloud_path',
    '    set -l p ""',
    '    set -l skip 0',
    '    for w in (commandline -opc)[2..-1]',
    '        if test $skip = 1',
    '            set skip 0',
    '            continue',
    '        end',
    '        if string match -q -- "--*=*" $w',
    '            continue',
    '        else if string match -q -- "-*" $w',
    '            if contains -- $w (string split -- " " (__ucloud_valued "$p"))',
    '                set skip 1',
    '            end',
    '        else if contains -- $w (string split -- " " (__ucloud_subs "$p"))',
    '            set p (string trim "$p $w")',
    '        end',
    '    end',
    '    echo "$p"',
    'end',
    'function __ucloud_at',
    '    set -l p (__ucloud_path)',
    '    test "$p" = "$argv[1]"',
    'end',
    'complete -c ucloud -f',
  ];
  for (const n of nodes) {
    const at = `-n "__ucloud_at '${n.path}'"`;
    const desc = new Map(n.describe);
    for (const s of n.subs.filter((x) => x !== 'help' || n.path === '')) lines.push(`complete -c ucloud ${at} -a ${sq(s)} -d ${sq(short(desc.get(s) ?? ''))}`);
    const seen = new Set<string>();
    for (const f of n.flags.filter((x) => x.startsWith('--'))) {
      if (seen.has(f)) continue;
      seen.add(f);
      const choices = n.choices.find(([x]) => x === f)?.[1];
      const value = n.valued.includes(f) ? (choices ? ` -x -a ${sq(choices.join(' '))}` : ' -r -F') : '';
      lines.push(`complete -c ucloud ${at} -l ${sq(f.slice(2))}${value} -d ${sq(short(desc.get(f) ?? ''))}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `ucloud completion bash|zsh|fish`: the script for `program`'s whole command tree, on stdout. */
export function completionCommand(program: () => Command): Command {
  return new Command('completion')
    .description('print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>').choices(SHELLS))
    .addHelpText(
      'after',
      [
        '',
        'Nouns, verbs, options and option values (--output table|json|yaml) complete;',
        "the script holds this ucloud's commands, so load it again after an upgrade.",
        '',
        'Examples:',
        '  source <(ucloud completion bash)                                  # now; add it to ~/.bashrc to keep it',
        '  ucloud completion bash | sudo tee /etc/bash_completion.d/ucloud    # every user',
        '  source <(ucloud completion zsh)                                   # in ~/.zshrc, after compinit',
        '  ucloud completion fish > ~/.config/fish/completions/ucloud.fish',
      ].join('\n'),
    )
    .action((shell: Shell) => {
      const nodes = walk(program());
      process.stdout.write({ bash, zsh, fish }[shell](nodes));
    });
}
