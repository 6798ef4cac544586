package mariadbtest

import "testing"

func TestScratchParallel(t *testing.T) {
	for i := 0; i < 8; i++ {
		t.Run("p", func(t *testing.T) {
			t.Parallel()
			s, err := Start()
			if err != nil {
				t.Fatal(err)
			}
			s.Stop()
		})
	}
}
