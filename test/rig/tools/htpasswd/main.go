// htpasswd writes a bcrypt htpasswd file for the rig's docker-registry (distribution 2.8,
// which accepts only bcrypt entries). Input on stdin: one "username<TAB>password" per line.
//
// bcrypt uses only the first 72 bytes of a password; golang.org/x/crypto refuses to hash a
// longer one, while distribution's check (CompareHashAndPassword) ignores the bytes past 72.
// So a long password is hashed on its first 72 bytes: the registry then accepts the full
// password, and also any password with the same first 72 bytes.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		line := in.Text()
		if line == "" {
			continue
		}
		user, pass, ok := strings.Cut(line, "\t")
		if !ok || user == "" || strings.Contains(user, ":") {
			fmt.Fprintf(os.Stderr, "bad input line (want username<TAB>password, no ':' in username)\n")
			os.Exit(2)
		}
		pw := []byte(pass)
		if len(pw) > 72 {
			pw = pw[:72]
		}
		hash, err := bcrypt.GenerateFromPassword(pw, bcrypt.MinCost)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s:%s\n", user, hash)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
