// Command filecover sums a Go cover profile's statements by file group and
// fails when a group is covered less than -min percent. make test runs it
// on the controller package's tests without envtest: the engine, the
// decision and the kinds' decision code are proven on fakes, and envtest
// is left for wiring.
//
//	filecover -profile cover-unit.out -min 95 engine=decision.go,managed.go sms=smsmessage_controller.go
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

func main() {
	profile := flag.String("profile", "", "the cover profile (go test -coverprofile)")
	minimum := flag.Float64("min", 95, "the least percentage of statements each group must cover")
	flag.Parse()
	total, covered, err := read(*profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "filecover:", err)
		os.Exit(2)
	}
	failed := false
	for _, arg := range flag.Args() {
		name, files, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "filecover: %q is not name=file,file\n", arg)
			os.Exit(2)
		}
		var t, c int
		for _, f := range strings.Split(files, ",") {
			if total[f] == 0 {
				fmt.Fprintf(os.Stderr, "filecover: %s has no statements in the profile\n", f)
				os.Exit(2)
			}
			t, c = t+total[f], c+covered[f]
		}
		pct := 100 * float64(c) / float64(t)
		verdict := "ok"
		if pct < *minimum {
			verdict, failed = fmt.Sprintf("FAIL (under %.0f%%)", *minimum), true
		}
		fmt.Printf("%-10s %4d/%4d statements  %5.1f%%  %s\n", name, c, t, pct, verdict)
	}
	if failed {
		os.Exit(1)
	}
}

// read sums statements and covered statements per file (by base name). A
// block listed more than once (several test binaries) counts once, covered
// if any run covered it.
func read(name string) (total, covered map[string]int, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	type block struct{ stmts, count int }
	blocks := map[string]block{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, nil, fmt.Errorf("not a cover profile line: %q", line)
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("not a cover profile line: %q", line)
		}
		b := blocks[fields[0]]
		blocks[fields[0]] = block{stmts: stmts, count: max(b.count, count)}
	}
	total, covered = map[string]int{}, map[string]int{}
	for loc, b := range blocks {
		file, _, _ := strings.Cut(loc, ":")
		file = path.Base(file)
		total[file] += b.stmts
		if b.count > 0 {
			covered[file] += b.stmts
		}
	}
	return total, covered, s.Err()
}
