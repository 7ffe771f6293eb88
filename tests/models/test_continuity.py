"""Segment quality figures, the parameter search, hand-set names and continuity across retrains."""
import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.inputs.synthetic import shopsphere
from core.models.segmentation import continuity
from core.pipeline.scoring import ScoringModel
from core.pipeline.training import train
from core.runs import names, store
from tests.support import slow_fixture, small_settings

# -- matching (pure functions) ---------------------------------------------------------------


def test_jaccard_matrix_values():
    old = np.array([0, 0, 0, 1, 1, 2])
    new = np.array([5, 5, 6, 6, 6, 6])
    J = continuity.jaccard_matrix(old, new, [0, 1, 2], [5, 6])
    # old 0 = {0,1,2}, new 5 = {0,1}: 2/3; old 0 vs new 6 = {2,3,4,5}: 1/6
    np.testing.assert_allclose(J, [[2 / 3, 1 / 6], [0, 2 / 4], [0, 1 / 4]])


def test_permuted_labels_are_matched_back_to_the_old_ids():
    rng = np.random.default_rng(0)
    old = rng.integers(0, 4, 1000) * 3  # old ids 0, 3, 6, 9
    perm = {0: 2, 3: 0, 6: 3, 9: 1}
    new = np.array([perm[v] for v in old])
    out = continuity.match_segments(old, new, [0, 3, 6, 9], [0, 1, 2, 3], next_id=10)
    assert out["mapping"] == {2: 0, 0: 3, 3: 6, 1: 9}
    assert set(out["status"].values()) == {"matched"} and out["retired"] == [] and out["next_id"] == 10
    assert all(p["jaccard"] == 1.0 for p in out["pairs"])


def test_split_segment_gives_new_ids_and_a_retired_one():
    # old segment 1 (400 customers) splits in two halves; segment 0 is unchanged
    old = np.array([0] * 600 + [1] * 400)
    new = np.array([0] * 600 + [1] * 150 + [2] * 250)
    out = continuity.match_segments(old, new, [0, 1], [0, 1, 2], next_id=2, min_jaccard=0.7)
    # new 2 overlaps old 1 with Jaccard 250/400 = 0.625 < 0.7: no match
    assert out["mapping"][0] == 0
    assert out["status"] == {0: "matched", 2: "new", 3: "new"}
    assert sorted([out["mapping"][1], out["mapping"][2]]) == [2, 3]
    assert out["retired"] == [1] and out["next_id"] == 4


def test_transition_matrix_counts_customers_in_both_runs():
    old = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment_id": [0, 0, 1, 1]})
    tm = continuity.transition_matrix(old, pd.Series(["b", "c", "d", "e"]), np.array([0, 0, 1, 1]))
    got = {(r.old_segment, r.new_segment): r.customers for r in tm.itertuples()}
    assert got == {(0, 0): 1, (1, 0): 1, (1, 1): 1}  # "a" left, "e" is new: neither counted


def test_transition_matrix_with_ids_read_as_numbers_one_month_and_text_the_next():
    old = pd.DataFrame({"customer_id": [1, 2], "segment_id": [0, 1]})
    tm = continuity.transition_matrix(old, pd.Series(["1", "2"]), np.array([1, 1]))
    assert tm["customers"].sum() == 2


def test_carried_names_win_and_new_names_stay_unique():
    profiles = [{"segment_id": 0, "name": "Big spenders"}, {"segment_id": 7, "name": "Deal seekers"}]
    link = {"status": {0: "matched", 7: "new"}, "previous_names": {0: "Deal seekers"}}
    continuity.carry_names(profiles, link)
    assert profiles[0]["name"] == "Deal seekers" and profiles[0]["computed_name"] == "Big spenders"
    assert profiles[1]["name"] == "Deal seekers (segment 7)" and profiles[1]["status"] == "new"


# -- hand-set names --------------------------------------------------------------------------

def test_display_names_set_clear_and_refuse(tmp_path):
    names.set_display_name(tmp_path, "shopsphere", 3, "  VIP regulars ")
    assert names.display_names(tmp_path, "shopsphere") == {3: "VIP regulars"}
    assert names.display_names(tmp_path, "other") == {}
    with pytest.raises(DataError, match="already used by segment 3"):
        names.set_display_name(tmp_path, "shopsphere", 4, "vip REGULARS", taken={3: "VIP regulars"})
    with pytest.raises(DataError, match="at most 60 characters"):
        names.set_display_name(tmp_path, "shopsphere", 4, "x" * 61)
    names.set_display_name(tmp_path, "shopsphere", 3, "")
    assert names.display_names(tmp_path, "shopsphere") == {}


# -- two consecutive runs --------------------------------------------------------------------

@slow_fixture(scope="module")
def two_runs(tmp_path_factory, small_csv):
    art = tmp_path_factory.mktemp("art2")
    s = small_settings(art)
    first = train(small_csv, None, s)
    names.set_display_name(art, "shopsphere", 0, "Our regulars")
    second = train(small_csv, None, s.replace(seed=s.seed + 1))
    return art, first, second


def test_second_run_is_matched_to_the_first(two_runs):
    art, first, second = two_runs
    c1, c2 = first.continuity(), second.continuity()
    assert c1.previous_run is None and set(c1.status.values()) == {"first run"}
    assert c2.previous_run == first.run_id
    ids2 = {p.segment_id for p in second.profiles()}
    ids1 = {p.segment_id for p in first.profiles()}
    matched = {k for k, v in c2.status.items() if v == "matched"}
    assert matched and matched <= ids1 & ids2
    assert {r["segment_id"] for r in c2.retired} == ids1 - matched
    new = {k for k, v in c2.status.items() if v == "new"}
    assert all(i >= c1.next_id for i in new) and c2.next_id > max(ids2)
    # matched segments keep the first run's automatic name
    names1 = {p.segment_id: p.name for p in first.profiles()}
    for p in second.profiles():
        if p.segment_id in matched:
            assert p.name == names1[p.segment_id]
    # the scored table uses the carried ids
    assert set(second.table("scored")["segment_id"]) == ids2


def test_transitions_cover_every_customer_in_both_runs(two_runs, small_table):
    _, first, second = two_runs
    tm = pd.DataFrame(second.continuity().transitions)
    assert tm["customers"].sum() == len(small_table)
    s1 = first.table("scored").set_index("customer_id")["segment_id"]
    s2 = second.table("scored").set_index("customer_id")["segment_id"]
    expected = pd.crosstab(s1, s2.loc[s1.index])
    for r in tm.itertuples():
        assert expected.at[r.old_segment, r.new_segment] == r.customers


def test_hand_set_name_wins_and_carries_over(two_runs):
    art, first, second = two_runs
    assert first.segment_names()[0] == "Our regulars"
    if second.continuity().status.get(0) == "matched":
        assert second.segment_names()[0] == "Our regulars"
    else:  # segment 0 retired: its hand-set name is not shown on another segment
        assert "Our regulars" not in second.segment_names().values()
    scored, _ = ScoringModel.load(first).score(shopsphere.generate(300, seed=11))
    assert (scored["segment_id"] == 0).any()
    assert set(scored.loc[scored["segment_id"] == 0, "segment_name"]) == {"Our regulars"}
    assert "Our regulars" not in set(scored.loc[scored["segment_id"] != 0, "segment_name"])


# -- quality figures and the search ----------------------------------------------------------

def test_quality_figures_are_in_the_run(two_runs):
    _, first, _ = two_runs
    seg = first.metrics().segmentation
    assert len(seg.bootstrap_aris) == 2
    assert seg.bootstrap_ari == pytest.approx(np.mean(seg.bootstrap_aris))
    if seg.method == "umap+hdbscan":
        chosen = [c for c in seg.hdbscan_candidates if c["chosen"]]
        assert len(chosen) == 1 and chosen[0]["actionable"]
        assert 5 <= chosen[0]["clusters"] <= 10 and chosen[0]["smallest_share"] >= 0.02
        assert chosen[0]["min_cluster_size"] == seg.min_cluster_size
        # the chosen candidate's refits are the run's bootstrap ARIs
        assert chosen[0]["stability_aris"] == seg.bootstrap_aris


# -- bad input for segmentation ----------------------------------------------------------------

def test_constant_and_empty_columns_do_not_break_segmentation(small_table):
    from core.inputs.shopsphere_spec import shopsphere_spec
    from core.inputs.validation import validate
    from core.models.features import learn_categories
    from core.models.segmentation import Segmenter
    from core.settings import SegmentationSettings

    spec = shopsphere_spec()
    df = small_table.copy()
    df["sessions_30d"] = 5  # constant
    df["cart_adds_30d"] = np.nan  # entirely missing
    clean, _ = validate(df, spec, require_target=True)
    seg = Segmenter(settings=SegmentationSettings(sample_size=1500, reference_size=1000, projection_size=300,
                                                  stability_resamples=1, stability_size=500),
                    random_state=3).fit(clean, spec, learn_categories(clean, spec))
    assert seg.fit_info_["empty_inputs_left_out"] == ["cart_adds_30d"]
    a = seg.assign(clean)
    assert len(a) == len(clean) and a["segment_id"].nunique() == seg.n_segments_ >= 2


def test_too_few_customers_to_segment_is_one_clear_error(small_table):
    from core.inputs.shopsphere_spec import shopsphere_spec
    from core.inputs.validation import validate
    from core.models.features import learn_categories
    from core.models.segmentation import Segmenter

    spec = shopsphere_spec()
    clean, _ = validate(small_table.head(30), spec, require_target=True)
    with pytest.raises(ValueError, match="at least 50 customers, got 30"):
        Segmenter().fit(clean, spec, learn_categories(clean, spec))


def test_second_process_gives_the_same_segments_as_one(small_table):
    from core.inputs.shopsphere_spec import shopsphere_spec
    from core.inputs.validation import validate
    from core.models.features import learn_categories
    from core.models.segmentation import Segmenter
    from core.settings import SegmentationSettings

    spec = shopsphere_spec()
    clean, _ = validate(small_table, spec, require_target=True)
    cats = learn_categories(clean, spec)
    cfg = SegmentationSettings(sample_size=1200, reference_size=800, projection_size=300,
                               stability_resamples=2, stability_size=500)
    one = Segmenter(settings=cfg, random_state=5, n_jobs=1).fit(clean, spec, cats)
    two = Segmenter(settings=cfg, random_state=5, n_jobs=2).fit(clean, spec, cats)
    np.testing.assert_array_equal(one.assign(clean)["segment_id"], two.assign(clean)["segment_id"])
    np.testing.assert_allclose(one.projection_[["x", "y"]], two.projection_[["x", "y"]])
    assert one.fit_info_["bootstrap_aris"] == two.fit_info_["bootstrap_aris"]


def test_no_actionable_hdbscan_setting_falls_back_to_kmeans_with_a_stated_k(small_table):
    from core.inputs.shopsphere_spec import shopsphere_spec
    from core.inputs.validation import validate
    from core.models.features import learn_categories
    from core.models.segmentation import Segmenter
    from core.settings import SegmentationSettings

    spec = shopsphere_spec()
    clean, _ = validate(small_table, spec, require_target=True)
    # 9 segments of at least 12% each cannot exist: no candidate is actionable
    cfg = SegmentationSettings(method="umap+hdbscan", sample_size=1200, reference_size=800, projection_size=300, min_segments=9,
                               max_segments=10, min_segment_share=0.12, fallback_k=(9, 10),
                               stability_resamples=1, stability_size=500)
    seg = Segmenter(settings=cfg, random_state=2).fit(clean, spec, learn_categories(clean, spec))
    assert seg.method_ == "umap+kmeans" and seg.fallback_reason_.startswith("HDBSCAN found no setting") and seg.n_segments_ in (9, 10)
    assert not any(c["actionable"] for c in seg.fit_info_["hdbscan_candidates"])
    assert seg.fit_info_["bootstrap_ari"] is not None


def test_a_run_of_another_table_in_between_does_not_restart_ids(two_runs, tmp_path):
    """shopsphere run, then a run on other inputs, then shopsphere again: ids never reused."""
    import shutil

    art, first, second = two_runs
    copy = tmp_path / "art"
    shutil.copytree(art, copy)
    s = small_settings(copy)
    # same data set, other segmentation inputs (an empty column is left out): fresh ids
    from core.inputs.synthetic import shopsphere as syn

    df = syn.generate(4000, seed=3)
    df["tickets_12m"] = np.nan
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    third = train(path, None, s)
    c3 = third.continuity()
    assert c3.previous_run is None and "other inputs" in c3.reason
    used = {p.segment_id for p in first.profiles()} | {p.segment_id for p in second.profiles()}
    ids3 = {p.segment_id for p in third.profiles()}
    assert not ids3 & used and min(ids3) == second.continuity().next_id
    assert "Our regulars" not in third.segment_names().values()


def test_constant_segmentation_inputs_are_refused_in_one_line(small_table, tmp_path):
    from core.inputs.shopsphere_spec import shopsphere_spec

    df = small_table.copy()
    for c in shopsphere_spec().segmentation_columns:
        df[c] = 1
    path = tmp_path / "const.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"only 1 distinct value combination.*constant: sessions_30d"):
        train(path, None, small_settings(tmp_path / "art"))
    assert store.current_run_id(tmp_path / "art") is None


@pytest.mark.parametrize("body, key", [
    ("fallback_k = []", "fallback_k"), ("n_components = 0", "n_components"), ("n_neighbors = 1", "n_neighbors"),
    ("projection_size = 0", "projection_size"), ("sample_size = 1000.5", "sample_size"),
    ("min_samples_grid = [2.5]", "min_samples_grid"), ("knn_k = 100000", "knn_k"), ("min_hopkins = 2.0", "min_hopkins"),
    ("max_segments = 1000", "max_segments"), ("min_dist = -1", "min_dist"), ("min_cluster_shares = [0.7]", "min_cluster_shares"),
    ("max_noise_share = 0", "max_noise_share"), ("min_cluster_shares = 0.05", "min_cluster_shares"),
    ('sample_size = "abc"', "sample_size"),
])
def test_bad_segmentation_settings_name_the_key_and_file(tmp_path, body, key):
    from core.settings import load_settings

    p = tmp_path / "s.toml"
    p.write_text("[segmentation]\n" + body + "\n")
    with pytest.raises(DataError, match=rf"settings file .*s.toml: \[segmentation\] {key} .*must"):
        load_settings(p)


def test_damaged_names_file_is_one_clear_error_and_never_overwritten(tmp_path):
    for text in ('{"shopsphere": {"3": "Loyal', "[]", '{"shopsphere": []}', '{"shopsphere": {"x": "Foo"}}',
                 '{"shopsphere": "abc"}', '{"shopsphere": {"1": null}}'):
        (tmp_path / "display_names.json").write_text(text)
        with pytest.raises(DataError, match="display_names.json: not valid segment names"):
            names.display_names(tmp_path, "shopsphere")
        with pytest.raises(DataError, match="not valid segment names"):
            names.set_display_name(tmp_path, "shopsphere", 1, "New")
        assert (tmp_path / "display_names.json").read_text() == text


def test_clearing_a_name_is_refused_when_another_segment_shows_the_automatic_one(tmp_path):
    names.set_display_name(tmp_path, "shopsphere", 5, "Rare visitors", taken={0: "VIP"}, auto_name="Big spenders")
    with pytest.raises(DataError, match="already used by segment 5"):
        names.set_display_name(tmp_path, "shopsphere", 0, "", taken={5: "Rare visitors"}, auto_name="Rare visitors")
