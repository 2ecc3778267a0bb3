"""params.yaml: the schema, one-line errors naming the key, and grid expansion."""

import copy

import pytest
import yaml

from ddstudy.errors import DDStudyError
from ddstudy.study import load_params, load_study, study_from_params, validate_params


@pytest.fixture()
def params():
    return load_params("params.yaml")


def test_repository_params_are_valid(params):
    validate_params(params)


def test_paper_grid_has_the_48_biased_variants_and_the_fair_dd_benchmarks(params):
    study = study_from_params(params, grid="paper")
    bias_study = [v for v in study.biased if v.bias in ("color", "corruption")]
    assert len(bias_study) == 48
    assert {(v.source, v.bias) for v in bias_study} == {("mnist", "color"), ("cifar10", "corruption")}
    assert sorted({v.ratio for v in bias_study}) == [0.0, 0.1, 0.5, 0.8, 0.95, 1.0]
    assert sorted({v.severity for v in bias_study}) == [1, 2, 3, 4]
    assert {v.name for v in study.clean} == {"mnist-clean", "cifar10-clean", "cifar100-clean"}
    assert all(v.seed == 42 and v.test_attrs == "conflicting" for v in bias_study)
    # FairDD's / COBRA's benchmarks: C-MNIST, C-FMNIST (FG/BG), CIFAR10-S with the reference's seed 0
    fair = {v.name: v for v in study.biased if v.bias not in ("color", "corruption")}
    assert sorted(fair) == [
        "cifar10-grayscale-r0.9-s1-tuniform-seed0",
        "fashion-mnist-bg-color-r0.9-s1-tuniform-seed30",
        "fashion-mnist-fg-color-r0.9-s1-tuniform-seed30",
        "mnist-bg-color-binary-r0.9-s1-tuniform-seed30",
        "mnist-fg-color-binary-r0.9-s1-tuniform-seed30",
    ]
    assert fair["cifar10-grayscale-r0.9-s1-tuniform-seed0"].seed == 0
    # FairDD's dataset seed (utils.get_dataset: dataset_seed = 30) for every coloured benchmark of FairDD's
    assert {v.seed for name, v in fair.items() if "color" in name} == {30}


def test_fair_dd_block_plans_dc_dm_plain_fairdd_cobra_at_cobras_settings(params):
    """The paper grid's second debias block: on each fair-DD benchmark DC and DM at IPC 10/50/100 and IDC at 10/50,
    each plain, FairDD and COBRA (no KDE/oracle/MTT there), with COBRA's DM settings, IDC's (Fashion-)MNIST
    settings and 5 evaluation networks."""
    study = study_from_params(params, grid="paper")
    fair = "cifar10-grayscale-r0.9-s1-tuniform-seed0"
    names = {c.name.split("/", 1)[1]: c for c in study.cells if c.dataset == fair}
    modes = ("", "_fairdd", "_cobra")
    expected = {f"{m}_ipc{ipc}{mode}" for m in ("dc", "dm") for ipc in (10, 50, 100) for mode in modes}
    expected |= {f"idc_ipc{ipc}{mode}" for ipc in (10, 50) for mode in modes}  # IDC at its reproduce settings
    assert set(names) == expected
    mnist = {
        c.name.split("/", 1)[1]: c for c in study.cells if c.dataset == "mnist-fg-color-binary-r0.9-s1-tuniform-seed30"
    }
    assert mnist["idc_ipc10_cobra"].config.metric == "l1" and mnist["idc_ipc10"].config.n_data == 500
    assert names["dm_ipc100_cobra"].config.iterations == 2600 and names["dm_ipc10"].config.batch_real == 600
    assert names["dc_ipc100"].config.init == "real" and names["dc_ipc100"].config.loops == (100, 10)
    assert study.eval_config("dm", fair).num_eval == 5
    # the bias study's block keeps every mode on its own datasets
    assert any(c.name == "mnist-color-r0.95-s4/mtt_ipc10_kde" for c in study.cells)


def test_kde_settings_side_by_side_are_named_by_their_kernel(params):
    """``debias.kde`` as a list: each setting's cells beside the others', named by the kernel (the default one's
    ``_kde``, then ``_kde-h0.2``), each reading its own weights; settings that would share a name are refused, and so
    is a second setting for MTT (its experts carry one)."""
    fg = "fashion-mnist-fg-color-r0.9-s1-tuniform"
    repro = study_from_params(params, "repro")  # the median bandwidth and h = 0.2
    assert repro.cell(fg, "dm_ipc10_kde").kde.bandwidth is None and repro.cell(fg, "dm_ipc10_kde-h0.2").kde.bandwidth
    grid = copy.deepcopy(params)
    block = grid["grids"]["repro"]["debias"][0]  # the comparison on the seed-42 draw of C-FMNIST
    base = block["kde"][0]
    block["kde"] = [base, {**base, "bandwidth": 0.2}, {**base, "bandwidth": 0.2, "beta": 0.5}]
    study = study_from_params(grid, "repro")
    kde = {c.set_name: c for c in study.cells if c.dataset == fg and getattr(c.config, "debias", "") == "kde"}
    assert set(kde) == {"dm_ipc10_kde", "dm_ipc10_kde-h0.2", "dm_ipc10_kde-h0.2-b0.5"}
    assert kde["dm_ipc10_kde"].weights_name == f"{fg}/kde-ConvNet-i0-e5-b1"
    assert kde["dm_ipc10_kde-h0.2"].weights_name == f"{fg}/kde-ConvNet-i0-e5-b1-h0.2"
    assert {f"{fg}/kde-ConvNet-i0-e5-b1", f"{fg}/kde-ConvNet-i0-e5-b1-h0.2"} <= set(study.weights_names)
    block["kde"] = base  # one setting: the cells of the median bandwidth, named as before
    assert study_from_params(grid, "repro").cell(fg, "dm_ipc10_kde") == kde["dm_ipc10_kde"]
    block["kde"] = [base, {**base, "epoch": 3}]
    with pytest.raises(DDStudyError, match=r"debias\[0\]\.kde\[1\]: same bandwidth and β as kde\[0\]"):
        study_from_params(grid, "repro")
    two = copy.deepcopy(params)  # two blocks naming one cell with different embeddings (was: the later one won)
    repro = two["grids"]["repro"]
    repro["zoo"]["models"][0]["train"]["save_epochs"] = [3, 5]
    first = repro["debias"][0]
    repro["debias"] = [first | {"kde": base}, first | {"kde": {**base, "epoch": 3}}]
    with pytest.raises(DDStudyError, match=r"debias\[1\]: \S+/dm_ipc10_kde is also in an earlier block with other"):
        study_from_params(two, "repro")
    paper = copy.deepcopy(params)
    first = paper["grids"]["paper"]["debias"][0]
    first["kde"] = [first["kde"], {**first["kde"], "bandwidth": 0.2}]
    with pytest.raises(DDStudyError, match="mtt trains its experts with one KDE setting"):
        study_from_params(paper, "paper")


def test_demo_grid_is_cmnist_dd_and_corrupted_fashion_mnist(params):
    """The demo's colour block is CMNIST-DD on real MNIST; the corruption block stays on Fashion-MNIST."""
    study = study_from_params(params, grid="demo")
    assert {(v.source, v.bias) for v in study.variants} == {
        ("mnist", "color"),
        ("fashion-mnist", "corruption"),
        ("fashion-mnist", "none"),
    }


def _error(params):
    with pytest.raises(DDStudyError) as err:
        study_from_params(params)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_typo_in_a_key_is_named_with_a_suggestion(params):
    bad = copy.deepcopy(params)
    group = bad["grids"]["demo"]["datasets"][0]
    group["ratoi"] = group.pop("ratios")
    message = _error(bad)
    assert "grids.demo.datasets[0]" in message and "'ratoi'" in message and "did you mean 'ratios'" in message


def test_ratio_out_of_range_is_named(params):
    bad = copy.deepcopy(params)
    bad["grids"]["paper"]["datasets"][0]["ratios"] = [0.5, 1.5]
    message = _error(bad)
    assert "grids.paper.datasets[0].ratios[1]" in message and "1.5" in message


def test_unknown_source_and_bias_are_named(params):
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["datasets"][0]["source"] = "svhn"
    assert "grids.demo.datasets[0].source" in _error(bad)
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["datasets"][1]["bias"] = "colour"
    assert "'colour' is not one of" in _error(bad)


def test_unknown_top_level_key_and_grid(params):
    bad = copy.deepcopy(params)
    bad["sourcse"] = {}
    assert "unknown key 'sourcse'" in _error(bad)
    bad = copy.deepcopy(params)
    bad["grid"] = "papr"
    assert "grid 'papr' is not defined" in _error(bad)


def test_corruption_severity_five_is_rejected_after_schema(params):
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["datasets"][1]["severities"] = [5]
    assert "severity 5" in _error(bad)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(DDStudyError, match="not found"):
        load_study(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("grid: demo\ngrids: [unclosed\n")
    with pytest.raises(DDStudyError, match="invalid YAML"):
        load_study(broken)


def test_duplicate_variants_are_merged(tmp_path):
    params = {
        "grid": "g",
        "grids": {
            "g": {
                "datasets": [
                    {"source": "mnist", "bias": "color", "ratios": [0.5, 0.5], "severities": [1]},
                    {"source": "mnist", "bias": "none"},
                ]
            }
        },
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(params))
    assert [v.name for v in load_study(path).variants] == ["mnist-color-r0.5-s1", "mnist-clean"]


def test_paper_zoo_has_four_archs_ten_inits_in_and_out_of_domain(params):
    study = study_from_params(params, grid="paper")
    for dataset in ("cifar10-clean", "cifar100-clean"):
        jobs = [m.job for m in study.zoo if m.job.dataset == dataset and m.config.augment == "none"]
        assert {j.arch for j in jobs} == {"ConvNet", "AlexNet", "VGG11", "ResNet18"}
        assert sorted({j.init for j in jobs}) == list(range(10)) and len(jobs) == 40
    # MTT's experts: inits 10-19 of ConvNet with its buffer recipe, beside the PTMs of the same dataset
    experts = [m for m in study.zoo if m.job.dataset == "cifar10-clean" and m.config.augment != "none"]
    assert sorted(m.job.init for m in experts) == list(range(10, 20))
    recipe = experts[0].config
    assert (recipe.epochs, recipe.lr, recipe.momentum, recipe.weight_decay, recipe.milestones) == (50, 0.01, 0, 0, ())
    assert recipe.save_epochs is None and recipe.augment == "color_crop_cutout_flip_scale_rotate"
    reference = study.zoo_model("cifar10-clean", "ConvNet", 0).config
    assert (reference.epochs, reference.lr, reference.weight_decay, reference.milestones) == (
        150,
        0.01,
        0.005,
        (50, 100),
    )
    assert reference.save_epochs is None  # every epoch, as the reference
    biased = [m for m in study.zoo if m.job.dataset.startswith("mnist-color") and m.config.augment == "none"]
    # every colour variant × 2 inits: CLoM's biased PTMs (ptm_bias) and the KDE embeddings (debias)
    assert len(biased) == 48 and biased[0].config.save_epochs == (1, 5, 10, 20, 50, 100, 150)


def test_zoo_errors_name_the_block(params):
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["zoo"]["models"][0]["archs"] = ["ConvNetW32", "LeNett"]
    message = _error(bad)
    assert "grids.demo.zoo.models[0].archs[1]" in message and "did you mean LeNet" in message
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["zoo"]["models"][0]["datasets"] = ["fashion-mnist-color-r0.9-s4-n1000-500"]
    message = _error(bad)
    assert "matches no dataset variant" in message and "did you mean" in message
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["zoo"]["train"]["save_epochs"] = [1, 9]
    assert "beyond training" in _error(bad)
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["zoo"]["train"]["epoch"] = 3
    assert "unknown key 'epoch' (did you mean 'epochs'?)" in _error(bad)


def test_paper_distillation_grid(params):
    study = study_from_params(params, grid="paper")
    biased = [c for c in study.cells if c.dataset.startswith(("mnist-color", "cifar10-corruption"))]
    methods = {(c.config.method, c.config.ipc) for c in biased}
    assert {(m, i) for m in ("dc", "dsa", "dm") for i in (1, 10, 50)} <= methods
    assert len({c.dataset for c in biased}) == 48
    dc = study.cell("mnist-color-r0.95-s4", "dc_ipc10").config
    assert (dc.iterations, dc.lr_img, dc.init, dc.loops, dc.batch_real) == (1000, 0.1, "noise", (10, 50), 256)
    dm = study.cell("cifar10-corruption-r0.5-s2", "dm_ipc50").config
    assert (dm.iterations, dm.lr_img, dm.init, dm.dsa_strategy) == (
        20000,
        1.0,
        "real",
        "color_crop_cutout_flip_scale_rotate",
    )
    assert study.eval_config("dc").num_eval == 20
    cross = {arch for cell, arch in study.evaluations if cell == "cifar10-clean/dsa_ipc10"}
    assert cross == {"ConvNet", "MLP", "LeNet", "AlexNet", "VGG11", "ResNet18"}


def test_distill_errors_name_the_key(params):
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["distill"]["methods"]["dc"]["ipcs"] = [7]
    assert "grids.demo.distill.methods.dc" in _error(bad) and "IPC 7" in _error(bad)
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["distill"]["methods"]["kip"] = {}
    assert "unknown key 'kip'" in _error(bad)
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["evaluate"]["methods"]["full"] = {"num_evals": 1}
    assert "grids.demo.evaluate.methods.full" in _error(bad)


def test_paper_ptm_study_axes(params):
    study = study_from_params(params, grid="paper")
    cells = [c for c in study.cells if c.clom and c.config.method == "dc" and c.config.ipc == 10]
    clom = [c.clom for c in cells if c.dataset == "cifar10-clean"]  # the PTM study (ptm_bias has its own cells)
    assert {c.inits for c in clom} == {1, 2, 5, 10}
    assert {c.archs for c in clom} >= {
        ("ConvNet",),
        ("AlexNet",),
        ("VGG11",),
        ("ResNet18",),
        ("ConvNet", "AlexNet", "VGG11", "ResNet18"),
    }
    assert {c.epoch for c in clom} == {1, 5, 10, 20, 50, 100, 150}
    assert {(c.distance, c.zoo_source) for c in clom} == {("ce", "cifar10-clean"), ("cos", "cifar100-clean")}
    assert {c.alphas for c in clom} == {(1000.0,), (2000.0,)}
    dsa = {c.clom.alphas for c in study.cells if c.clom and c.config.method == "dsa"}
    assert dsa == {(1000.0,), (5000.0,)}
    assert study.cell("cifar10-clean", "dc_ipc10") in study.cells  # the baseline without CLoM


def test_demo_has_ce_and_cos_two_pools_two_epochs(params):
    study = study_from_params(params, grid="demo")
    clom = [c.clom for c in study.cells if c.clom]
    assert {c.distance for c in clom} == {"ce", "cos"}
    assert len({c.archs for c in clom}) >= 2 and len({c.epoch for c in clom}) >= 2


def test_clom_needs_its_ptms_in_the_zoo(params):
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["clom"]["axes"]["epoch"] = [2]
    message = _error(bad)
    assert "grids.demo.clom" in message and "at epoch 2" in message and "add it to zoo.models" in message
    bad = copy.deepcopy(params)
    bad["grids"]["demo"]["clom"]["center"]["distance"] = "l2"
    assert "grids.demo.clom.center.distance" in _error(bad)


def test_repro_grid_cells_and_their_papers_protocols(params):
    """Each repro cell is evaluated as its paper does (docs/reproduction.md)."""
    study = study_from_params(params, "repro")
    cmnist_dd = [f"mnist-color-r{r}-s4" for r in ("0", "0.1", "0.5", "0.8", "0.95", "1")]
    assert [v.name for v in study.variants] == [
        "fashion-mnist-clean",
        "mnist-clean",
        "fashion-mnist-fg-color-r0.9-s1-tuniform-seed30",
        "fashion-mnist-bg-color-r0.9-s1-tuniform-seed30",
        "mnist-fg-color-binary-r0.9-s1-tuniform-seed30",
        "mnist-bg-color-binary-r0.9-s1-tuniform-seed30",
        "fashion-mnist-fg-color-r0.9-s1-tuniform",
        "fashion-mnist-bg-color-r0.9-s1-tuniform",
        *cmnist_dd,
        "mnist-color-r0.8-s1",
        "mnist-color-r0.95-s1",
        "fashion-mnist-color-r0.1-s4",
        "fashion-mnist-color-r0.95-s4",
    ]
    assert all(v.test_attrs == "conflicting" for v in study.variants if v.name.startswith("mnist-color-"))
    protocols = {}
    for cell in study.cells:
        resolved = study.cell_eval_config(cell).resolved(cell.config.method)
        protocols[cell.name] = (resolved.num_eval, resolved.epochs, resolved.augment != "none")
        assert cell.config.model == "ConvNet"
    assert protocols["fashion-mnist-clean/dc_ipc1"] == (20, 300, False)  # DC Tab. 1
    assert protocols["fashion-mnist-clean/dsa_ipc1"] == (20, 1000, True)  # DSA Tab. 1
    for name in ("dm_ipc10", "dm_ipc10_fairdd", "random_ipc10"):  # FairDD main_DM.py
        assert protocols[f"fashion-mnist-fg-color-r0.9-s1-tuniform/{name}"] == (10, 1000, True)
    assert protocols["fashion-mnist-color-r0.95-s4/dm_ipc10"] == (5, 1000, True)  # per_dataset: 5 nets
    exact = "fashion-mnist-fg-color-r0.9-s1-tuniform-seed30"  # FairDD's images
    for name in ("dm_ipc10", "dm_ipc10_fairdd", "random_ipc10"):
        assert protocols[f"{exact}/{name}"] == (10, 1000, True)
    for ratio in cmnist_dd:  # Biased-DD on CMNIST-DD: DM, DC (200 iterations) and random, 5 nets
        assert protocols[f"{ratio}/dm_ipc10"] == (5, 1000, True) and protocols[f"{ratio}/dc_ipc1"] == (5, 300, False)
        assert protocols[f"{ratio}/random_ipc10"] == (5, 1000, True)
        assert study.cell(ratio, "dc_ipc1").config.iterations == 200
    # DC Tab. 1 on MNIST: get_daparam's crop/scale/rotate, 1,000 epochs (main.py: augmentation → 1,000)
    mnist_dc = study.cell_eval_config(study.cell("mnist-clean", "dc_ipc1")).resolved("dc")
    assert (mnist_dc.num_eval, mnist_dc.epochs, mnist_dc.augment) == (20, 1000, "dc:crop_scale_rotate")
    assert study.cell("mnist-clean", "dc_ipc1").config.iterations == 1000
    c_mnist = "mnist-fg-color-binary-r0.9-s1-tuniform-seed30"
    assert protocols[f"{c_mnist}/dm_ipc10_fairdd"][0] == 5 and protocols[f"{c_mnist}/random_ipc10"][0] == 10
    assert study.cell("fashion-mnist-clean", "dc_ipc1").config.iterations == 1000
    assert (study.results_dir, study.synthetic_dir, study.metrics_dir) == (
        "results/repro",
        "results/repro/synthetic",
        "results/repro/evaluations",
    )
    demo = study_from_params(params, "demo")
    assert (demo.results_dir, demo.synthetic_dir, demo.metrics_dir) == ("results", "synthetic", "metrics")


def test_per_dataset_evaluation_pattern_must_match(params):
    params = copy.deepcopy(params)
    params["grids"]["repro"]["evaluate"]["per_dataset"] = {"fashion-mnist-colr-*": {"num_eval": 5}}
    with pytest.raises(DDStudyError, match="per_dataset: 'fashion-mnist-colr-\\*' matches no dataset variant"):
        study_from_params(params, "repro")


def test_per_dataset_evaluation_has_its_own_per_method_overrides(params):
    """``evaluate.per_dataset.<pattern>.methods.<method>`` applies after the pattern's shared settings and only to
    that method (e.g. COBRA's 1,500 DM epochs on its benchmarks, the other methods' protocol untouched); a method
    the grid does not distil, or a setting the protocol lacks, is refused in one line."""
    params = copy.deepcopy(params)
    per_dataset = params["grids"]["repro"]["evaluate"]["per_dataset"]
    per_dataset["fashion-mnist-color-*"] = {"num_eval": 5, "methods": {"dm": {"epochs": 1500, "num_eval": 3}}}
    validate_params(params)
    study = study_from_params(params, "repro")
    colour, fg = "fashion-mnist-color-r0.95-s4", "fashion-mnist-fg-color-r0.9-s1-tuniform"
    dm = study.eval_config("dm", colour).resolved("dm")
    assert (dm.num_eval, dm.epochs, dm.augment != "none") == (3, 1500, True)
    random = study.eval_config("random", colour).resolved("random")
    assert (random.num_eval, random.epochs) == (5, 1000)  # the pattern's shared setting, its own epochs
    assert (study.eval_config("dm", fg).num_eval, study.eval_config("dm", fg).resolved("dm").epochs) == (10, 1000)
    per_dataset["fashion-mnist-color-*"]["methods"] = {"mtt": {"num_eval": 3}}
    with pytest.raises(DDStudyError, match="per_dataset.fashion-mnist-color-\\*.methods: 'mtt' is not a method"):
        study_from_params(params, "repro")
    per_dataset["fashion-mnist-color-*"] = {"num_evals": 5}
    with pytest.raises(DDStudyError, match="num_evals"):
        validate_params(params)


def test_snakemake_schema_is_generated_from_the_registries():
    """Snakemake validates with workflow/schemas/params.schema.yaml: it must be what the code generates (one
    source: the base file + the registries), so a new bias kind or method reaches it by `ddstudy params schema
    --write`, never by hand."""
    from ddstudy.data.registry import BIASES
    from ddstudy.study.schema import SCHEMA_PATH, schema_text

    assert SCHEMA_PATH.read_text() == schema_text(), "stale: run `ddstudy params schema --write`"
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    assert schema["$defs"]["dataset_group"]["properties"]["bias"]["enum"] == list(BIASES)


def test_published_cells_must_be_cells_of_the_grid(params):
    params = copy.deepcopy(params)
    params["grids"]["repro"]["published"][0]["cell"] = "fashion-mnist-clean/dc_ipc10"
    with pytest.raises(DDStudyError, match=r"published\[0\]\.cell: 'fashion-mnist-clean/dc_ipc10' is not a synthetic"):
        study_from_params(params, "repro")


def test_study_answers_what_the_rules_ask():
    """The rules ask the study, they do not recompute: whether any cell uses CLoM, mitigates bias; the cross study's
    pairs and members come typed from its expander (never a pair-or-empty)."""
    demo = load_study("params.yaml", "demo")
    assert demo.uses_clom and demo.has_debias
    assert all(isinstance(p, tuple) and len(p) == 2 for p in demo.ptm_bias_pairs)
    assert set(demo.ptm_bias_cells) <= {c.name for c in demo.cells}
    repro = load_study("params.yaml", "repro")
    assert not repro.uses_clom and repro.ptm_bias_pairs == () and repro.ptm_bias_cells == ()


def test_cobra_is_planned_beside_fairdd_where_it_can_act():
    """Issue 22: the paper and demo grids run cobra wherever they run fairdd, except MTT (refused by declaration:
    no expert counterpart), whose other modes stay."""
    for grid in ("demo", "paper"):
        study = load_study("params.yaml", grid)
        modes = {}
        for cell in study.cells:
            modes.setdefault(cell.config.method, set()).add(getattr(cell.config, "debias", "none"))
        for method in ("dc", "dm") + (("dsa",) if grid == "paper" else ()):
            assert {"fairdd", "cobra"} <= modes[method], (grid, method)
        assert "fairdd" in modes["mtt"] and "cobra" not in modes["mtt"], grid


def test_per_dataset_method_settings_and_per_method_debias_modes(params):
    """``distill.per_dataset`` overrides a method's settings on matching datasets — its plain cells and the debias
    cells built on them (the repro grid's DC: 1,000 iterations on the clean set, 200 on C-FMNIST); ``debias.modes``
    may list modes per method."""
    repro = study_from_params(params, "repro")
    by_name = {c.name: c for c in repro.cells}
    assert by_name["fashion-mnist-clean/dc_ipc1"].config.iterations == 1000
    for name in ("dc_ipc1", "dc_ipc1_fairdd", "dc_ipc1_cobra"):
        assert by_name[f"fashion-mnist-bg-color-r0.9-s1-tuniform/{name}"].config.iterations == 200
    assert "fashion-mnist-fg-color-r0.9-s1-tuniform/dm_ipc10_kde" in by_name
    assert "fashion-mnist-fg-color-r0.9-s1-tuniform/dc_ipc1_kde" not in by_name  # DC: fairdd and cobra only
    broken = copy.deepcopy(params)
    broken["grids"]["repro"]["distill"]["per_dataset"] = {"fashion-mnist-clean": {"mtt": {"iterations": 5}}}
    with pytest.raises(DDStudyError, match="'mtt' is not a method of this grid's distill block"):
        study_from_params(broken, "repro")
    broken["grids"]["repro"]["distill"]["per_dataset"] = {"cifar10-*": {"dc": {"iterations": 5}}}
    with pytest.raises(DDStudyError, match="distill.per_dataset"):
        study_from_params(broken, "repro")
    broken = copy.deepcopy(params)
    broken["grids"]["repro"]["debias"][0]["modes"] = {"dm": ["fairdd", "magic"]}
    with pytest.raises(DDStudyError, match=r"debias\[0\].modes.dm\[1\]: 'magic' is not one of"):
        study_from_params(broken, "repro")
    # debias as a list of blocks: each its own datasets / methods / modes; a cell two blocks name is made once
    listed = copy.deepcopy(params)
    listed["grids"]["repro"]["debias"].append(
        {"datasets": ["fashion-mnist-fg-*"], "methods": {"dm": [10]}, "modes": ["fairdd"]}
    )
    again = study_from_params(listed, "repro")
    assert [c.name for c in again.cells] == [c.name for c in repro.cells]
    listed["grids"]["repro"]["debias"][3]["modes"] = ["magic"]
    with pytest.raises(DDStudyError, match=r"debias\[3\].*magic"):
        study_from_params(listed, "repro")
