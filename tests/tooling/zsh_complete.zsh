# zsh -f zsh_complete.zsh SCRIPT MODE "command line": the candidates zsh's completion system offers
# for the command line, one a line. MODE: `source` (the script sourced after compinit) or `fpath`
# (the folder holding the script, saved as _ganspec, put on $fpath before compinit).
# It drives a real interactive zsh in a pseudo-terminal (zsh/zpty), records every match that
# reaches compadd, and presses a key bound to complete-word.
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT= RPROMPT= ; unsetopt zle_bracketed_paste 2>/dev/null"
if [[ $2 == fpath ]]; then
  zpty -w z "fpath=(${(q)1:h} \$fpath)"
  zpty -w z "autoload -U compinit && compinit -u -D"
else
  zpty -w z "autoload -U compinit && compinit -u -D"
  zpty -w z "source ${(q)1}"
fi
# the markers are split in what is typed, so that the echo of these lines never matches them
zpty -w z 'compadd () { local -a __hits; builtin compadd -A __hits "$@"; local __r=$?; (( $#__hits )) && print -r -l -- "<ca""nd>"${^__hits} >&2; builtin compadd "$@"; return $__r; }'
zpty -w z "_gs_cap() { zle complete-word; print -r -- '<e''nd>' >&2; }; zle -N _gs_cap; bindkey '^T' _gs_cap"
zpty -w -n z "$3"$'\x14'
zpty -r z out "*<end>*"
print -r -- "$out" | tr -d '\r' | grep -ao '<cand>.*' | sed 's/^<cand>//' | sort -u
zpty -d z
