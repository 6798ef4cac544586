package history

import (
	"reflect"
	"testing"

	"imagingstatus/server/store"
	"imagingstatus/wire"
)

func TestSamplesOf(t *testing.T) {
	main := wire.Partition{Mountpoint: "/var/lib/pulse2", Total: 2000, Used: 700, Main: true}
	root := wire.Partition{Mountpoint: "/", Total: 100, Used: 40}
	repo := &wire.Repository{ImagesTotal: 12, ImagesComplete: 10, BytesComplete: 5000}
	tests := []struct {
		name string
		f    wire.Figures
		want map[string]float64
	}{
		{
			name: "everything",
			f: wire.Figures{Partitions: []wire.Partition{root, main}, Memory: &wire.Memory{Used: 3e9},
				Load: &wire.Load{Load1: 0.75}, Repository: repo},
			want: map[string]float64{
				wire.FigureRepoDiskUsed: 700, wire.FigureRepoDiskTotal: 2000, wire.FigureMemoryUsed: 3e9,
				wire.FigureLoad1: 0.75, wire.FigureImagesComplete: 10, wire.FigureImagesTotal: 12,
				wire.FigureCompleteBytes: 5000,
			},
		},
		{
			name: "no main partition: no disk samples",
			f:    wire.Figures{Partitions: []wire.Partition{root}, Load: &wire.Load{Load1: 2}},
			want: map[string]float64{wire.FigureLoad1: 2},
		},
		{
			name: "nothing collected (collectors failed)",
			f:    wire.Figures{Errors: []string{"memory: permission denied"}},
			want: map[string]float64{},
		},
		{
			name: "empty repository: zeros are values",
			f:    wire.Figures{Repository: &wire.Repository{}},
			want: map[string]float64{wire.FigureImagesComplete: 0, wire.FigureImagesTotal: 0, wire.FigureCompleteBytes: 0},
		},
		{
			name: "no bytes_complete but the image list: summed from the complete images",
			f: wire.Figures{Repository: &wire.Repository{ImagesTotal: 3, ImagesComplete: 2, Images: []wire.Image{
				{State: wire.ImageComplete, Size: 100}, {State: wire.ImageFailed, Size: 7}, {State: wire.ImageComplete, Size: 50},
			}}},
			want: map[string]float64{wire.FigureImagesComplete: 2, wire.FigureImagesTotal: 3, wire.FigureCompleteBytes: 150},
		},
		{
			name: "no bytes_complete and the list omitted: unknown, skipped",
			f:    wire.Figures{Repository: &wire.Repository{ImagesTotal: 3, ImagesComplete: 2, ImagesOmitted: true}},
			want: map[string]float64{wire.FigureImagesComplete: 2, wire.FigureImagesTotal: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SamplesOf("UUID3", tc.f, now)
			m := map[string]float64{}
			for _, s := range got {
				if s.Entity != "UUID3" || !s.T.Equal(now) {
					t.Errorf("sample %+v: wrong entity or time", s)
				}
				if _, dup := m[s.Figure]; dup {
					t.Errorf("figure %s twice", s.Figure)
				}
				m[s.Figure] = s.V
			}
			if !reflect.DeepEqual(m, tc.want) {
				t.Errorf("got %v, want %v", m, tc.want)
			}
		})
	}
}

// TestSamplesOfAppend: the samples are what AppendSamples accepts.
func TestSamplesOfAppend(t *testing.T) {
	s, err := store.Open(t.TempDir() + "/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := wire.Figures{Partitions: []wire.Partition{{Total: 10, Used: 4, Main: true}}, Load: &wire.Load{Load1: 1.5}}
	if err := s.AppendSamples(SamplesOf("UUID1", f, now)); err != nil {
		t.Fatal(err)
	}
	pts, err := s.Series("UUID1", wire.FigureRepoDiskUsed, now.Add(-day), now)
	if err != nil || len(pts) != 1 || pts[0].V != 4 {
		t.Fatalf("%v, %v", pts, err)
	}
}
