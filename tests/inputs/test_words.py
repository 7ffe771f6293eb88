"""Labels, persona words and target phrases from the column names of exported tables."""
import pandas as pd
import pytest

from core.inputs import spec_draft
from core.inputs import words as W


@pytest.mark.parametrize("name, label", [
    ("MntMeatProducts", "spend on meat products"), ("NumWebVisitsMonth", "web visits per month"),
    ("NumDealsPurchases", "deal purchases"), ("Year_Birth", "year of birth"), ("Dt_Customer", "customer since (date)"),
    ("AcceptedCmp3", "accepted campaign 3"), ("avg_session_duration", "average session duration"),
    ("Kidhome", "kids at home"), ("AmtSpent", "amount spent"), ("qty_items", "quantity items"),
    ("pct_discounted_orders", "percent discounted orders"), ("SpecialDay", "special day"),
    ("num_orders_month", "orders per month"), ("CustomerAge", "customer age"), ("!!!", "!!!"),
])
def test_labels_read_as_english(name, label):
    assert W.label(name) == label


@pytest.mark.parametrize("name, kind, high, low", [
    ("Recency", "numeric", "Lapsed buyers", "Recent buyers"),
    ("days_since_last_visit", "duration", "Long inactive", "Recently active"),
    ("Dt_Customer", "date", "Long-standing customers", "Newer customers"),
    ("MntWines", "currency", "Big spenders on wines", "Low spenders on wines"),
    ("Income", "currency", "High income", "Low income"),
    ("NumWebPurchases", "count", "Frequent web purchases", "Rare web purchases"),
    ("Kidhome", "count", "Many kids at home", "Few kids at home"),
    ("Year_Birth", "numeric", "Younger", "Older"),
    ("Administrative_Duration", "duration", "Long administrative duration", "Short administrative duration"),
    ("Complain", "binary", "Mostly complain", "Rarely complain"),
])
def test_persona_words_fit_the_kind_of_column(name, kind, high, low):
    lab = W.label(name)
    assert (W.persona_words(name, lab, kind, True), W.persona_words(name, lab, kind, False)) == (high, low)


def test_columns_of_one_topic_are_recognised():
    assert W.topic("Administrative") == W.topic("Administrative_Duration") == "administrative"
    assert W.topic("orders_12m", "orders in the last 12 months") == W.topic("orders_90d", "orders in the last 90 days")
    assert W.topic("MntWines") != W.topic("MntFruits")
    assert W.topic("orders_90d", "orders in the last 90 days") == W.topic("x", "days since the last order") == "order"
    assert W.topic("Address") == "address"


@pytest.mark.parametrize("target, phrase, future", [
    ("Response", "responded", "will respond"), ("purchased_next_30d", "bought in the next 30 days",
                                               "will buy in the next 30 days"),
    ("Churn", "churned", "will churn"), ("Revenue", "had revenue = yes", "will have revenue = yes"),
])
def test_target_phrases_and_their_future_tense(target, phrase, future):
    assert W.target_phrase(target) == phrase and W.future(phrase) == future
    assert W.future("accepted the last campaign offer") == "will accept the last campaign offer"
    assert W.future("Is a member") == "will be among those who Is a member"


def _table(n=80):
    import numpy as np
    rng = np.random.default_rng(0)
    return pd.DataFrame({"ID": np.arange(n), "MntWines": rng.gamma(2, 100, n), "MntMeatProducts": rng.gamma(2, 50, n),
                         "Income": rng.normal(50000, 9000, n), "NumDealsPurchases": rng.poisson(2, n),
                         "NumWebPurchases": rng.poisson(4, n), "Response": rng.integers(0, 2, n)})


def test_a_draft_proposes_the_money_roles_and_persona_words():
    draft = spec_draft.draft_spec(_table())
    s = draft.spec
    assert s.value_column == ("MntWines", "MntMeatProducts")       # spend per product line, summed; not income
    assert s.discount_column == "NumDealsPurchases" and s.order_value_column is None
    assert s.target_label == "responded"
    assert s.column("MntWines").high_name == "Big spenders on wines"
    text = spec_draft.spec_toml(draft)
    assert 'value_column = ["MntWines", "MntMeatProducts"]' in text and 'high_name = "Big spenders on wines"' in text
    spend = s.spend(pd.DataFrame({"MntWines": [10.0, None, None], "MntMeatProducts": [5.0, 2.0, None]}))
    assert spend.tolist()[:2] == [15.0, 2.0] and pd.isna(spend.iloc[2])


def test_the_draft_form_edits_labels_and_persona_words_and_keeps_the_roles_valid():
    draft = spec_draft.draft_spec(_table())
    form = spec_draft.choices(draft)
    assert list(form.columns) == spec_draft.CHOICE_COLUMNS
    form.loc[form["column"] == "MntWines", ["label", "high words"]] = ["wine spend", "Wine lovers"]
    form.loc[form["column"] == "MntMeatProducts", "use"] = False
    edited = spec_draft.apply_choices(draft, form).spec
    wine = edited.column("MntWines")
    assert (wine.label, wine.high_name, wine.low_name) == ("wine spend", "Wine lovers", "Low spenders on wines")
    assert edited.value_column == "MntWines"                       # the unticked column left the spend
