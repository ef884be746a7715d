// keyring-oracle: kubelet's own keyring code as a test oracle for regcred's port.
package main

import (
	"encoding/json"
	"os"

	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/credentialprovider/secrets"
	"k8s.io/kubernetes/pkg/util/parsers"
)

type secret struct {
	Name string            `json:"name"`
	Type string            `json:"type"`
	Data map[string]string `json:"data"`
}
type kase struct {
	Secrets []secret `json:"secrets"`
	Image   string   `json:"image"`
}
type hit struct {
	Secret   string `json:"secret"`
	Username string `json:"username"`
	Password string `json:"password"`
}
type answer struct {
	Repository string `json:"repository,omitempty"`
	Hits       []hit  `json:"hits"`
	Error      string `json:"error,omitempty"`
}

func main() {
	var cases []kase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := make([]answer, 0, len(cases))
	for _, c := range cases {
		var passed []v1.Secret
		for _, s := range c.Secrets {
			data := map[string][]byte{}
			for k, v := range s.Data {
				data[k] = []byte(v)
			}
			passed = append(passed, v1.Secret{Type: v1.SecretType(s.Type), Data: data})
			passed[len(passed)-1].Name = s.Name
		}
		a := answer{Hits: []hit{}}
		repo, _, _, err := parsers.ParseImageName(c.Image)
		if err != nil {
			a.Error = err.Error()
			out = append(out, a)
			continue
		}
		a.Repository = repo
		keyring, err := secrets.MakeDockerKeyring(passed, credentialprovider.UnionDockerKeyring{})
		if err != nil {
			a.Error = err.Error()
			out = append(out, a)
			continue
		}
		creds, _ := keyring.Lookup(repo)
		for _, cr := range creds {
			name := ""
			if cr.Source != nil && cr.Source.Secret != nil {
				name = cr.Source.Secret.Name
			}
			a.Hits = append(a.Hits, hit{Secret: name, Username: cr.Username, Password: cr.Password})
		}
		out = append(out, a)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
