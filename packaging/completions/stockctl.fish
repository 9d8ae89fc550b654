# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_stockctl_global_optspecs
    string join \n socket= interval-ms= h/help V/version
end

function __fish_stockctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_stockctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_stockctl_using_subcommand
    set -l cmd (__fish_stockctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c stockctl -n "__fish_stockctl_needs_command" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_needs_command" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_needs_command" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_needs_command" -s V -l version -d 'Print version'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "status" -d 'Summary of the daemon\'s state (admin)'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "columns" -d 'Where the store\'s memory goes: bytes and bits per value of each column, most expensive first, then the indexes (admin)'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "get" -d 'One stock\'s row (its latest date unless --date)'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "top" -d 'The top N stocks of a date ranked by a numeric column'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "search" -d 'Find stocks: code, name, industry, board and listing date, by code'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "cache" -d 'List, clear or resize the daemon\'s caches (admin)'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "reload" -d 'Reload the store from its source now and wait for it (admin)'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "trim" -d 'Shed caches to half their caps and return memory to the OS (admin)'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "watch" -d 'Print a status line every interval until interrupted (admin)'
complete -c stockctl -n "__fish_stockctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c stockctl -n "__fish_stockctl_using_subcommand status" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand status" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand status" -l json -d 'Print the raw admin.status result as JSON'
complete -c stockctl -n "__fish_stockctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand columns" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand columns" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand columns" -l json -d 'Print the columns\' figures as JSON (table order, exact bytes)'
complete -c stockctl -n "__fish_stockctl_using_subcommand columns" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand get" -l date -d 'Trading date, YYYY-MM-DD' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand get" -l fields -d 'Columns to show, comma-separated (default: all)' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand get" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand get" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand get" -l json -d 'Print the result as JSON'
complete -c stockctl -n "__fish_stockctl_using_subcommand get" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -l by -d 'Numeric column to rank by' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -s n -l count -d 'How many rows (1-500)' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -l date -d 'Trading date, YYYY-MM-DD (default: the latest)' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -l order -d 'Highest first (desc) or lowest first (asc)' -r -f -a "desc\t''
asc\t''"
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -l json -d 'Print the result as JSON'
complete -c stockctl -n "__fish_stockctl_using_subcommand top" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand search" -l industry -d 'Only stocks of this industry (its exact name)' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand search" -l prefix -d 'Only codes starting with P' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand search" -s n -l count -d 'How many stocks to show at most (1-1000)' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand search" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand search" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand search" -l json -d 'Print the result as JSON (the shape of stock.list)'
complete -c stockctl -n "__fish_stockctl_using_subcommand search" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and not __fish_seen_subcommand_from list clear resize help" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and not __fish_seen_subcommand_from list clear resize help" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and not __fish_seen_subcommand_from list clear resize help" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and not __fish_seen_subcommand_from list clear resize help" -f -a "list" -d 'Every cache: entries, bytes, cap, hit rate, evictions'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and not __fish_seen_subcommand_from list clear resize help" -f -a "clear" -d 'Drop every entry of one cache, or of all without NAME'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and not __fish_seen_subcommand_from list clear resize help" -f -a "resize" -d 'Set a cache\'s cap (B, KiB, MiB or GiB) and evict down to it now'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and not __fish_seen_subcommand_from list clear resize help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from list" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from list" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from list" -l json -d 'Print the caches as JSON'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from clear" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from clear" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from clear" -l yes -d 'Really do it (required)'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from clear" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from resize" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from resize" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from resize" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "list" -d 'Every cache: entries, bytes, cap, hit rate, evictions'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "clear" -d 'Drop every entry of one cache, or of all without NAME'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "resize" -d 'Set a cache\'s cap (B, KiB, MiB or GiB) and evict down to it now'
complete -c stockctl -n "__fish_stockctl_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c stockctl -n "__fish_stockctl_using_subcommand reload" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand reload" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand reload" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand trim" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand trim" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand trim" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand watch" -l socket -d 'stockd\'s Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else /run/stockd/stockd.sock when it exists, else $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]' -r -F
complete -c stockctl -n "__fish_stockctl_using_subcommand watch" -l interval-ms -d 'How often the console and `watch` refresh the status, in milliseconds' -r
complete -c stockctl -n "__fish_stockctl_using_subcommand watch" -s h -l help -d 'Print help'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "status" -d 'Summary of the daemon\'s state (admin)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "columns" -d 'Where the store\'s memory goes: bytes and bits per value of each column, most expensive first, then the indexes (admin)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "get" -d 'One stock\'s row (its latest date unless --date)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "top" -d 'The top N stocks of a date ranked by a numeric column'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "search" -d 'Find stocks: code, name, industry, board and listing date, by code'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "cache" -d 'List, clear or resize the daemon\'s caches (admin)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "reload" -d 'Reload the store from its source now and wait for it (admin)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "trim" -d 'Shed caches to half their caps and return memory to the OS (admin)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "watch" -d 'Print a status line every interval until interrupted (admin)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and not __fish_seen_subcommand_from status columns get top search cache reload trim watch help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "list" -d 'Every cache: entries, bytes, cap, hit rate, evictions'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "clear" -d 'Drop every entry of one cache, or of all without NAME'
complete -c stockctl -n "__fish_stockctl_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "resize" -d 'Set a cache\'s cap (B, KiB, MiB or GiB) and evict down to it now'
