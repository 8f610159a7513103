"""The ``contact`` household rule: a pupil's named parent or carer found among the persons.

Schools name a pupil's contacts; this rule finds each contact among the persons by full name at
the pupil's address (else current postcode, else a postcode both were ever recorded at), then by
first name and a surname a typo away, then by first name alone when no one answers the full name
(a changed surname), guarded by how many people of that first name chance would put there; and
by full name alone when the only person of that uncommon name is placed nowhere (no postcode).
Kept apart from :mod:`matching.households.rules` (the registry) because it is the largest rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from matching.households.model import EdgeContext

__all__ = ["contact_edges"]


def contact_edges(ctx: EdgeContext) -> pd.DataFrame:
    """A pupil's named parent or carer, found among the people sharing a postcode with the pupil.

    ``parent_contact``: same first and last name, at the pupil's address if
    anyone of that name lives there, else at the pupil's current postcode,
    else at a postcode both were ever recorded at (a family that moved
    together, one agency not yet told); never one placed at another address
    of the pupil's postcode (a namesake next door: a parent is placed at the
    pupil's address, or by postcode alone), nor either of two namesakes away
    from the pupil's address. A contact no one answers by full name is
    matched by :func:`_unanswered_contacts`.
    """
    place, pupils = ctx.place, ctx.contacts
    contact = ["contact_first_name", "contact_last_name"]
    pairs = pupils.merge(
        ctx.namesakes,
        left_on=["contact_first_name", "postcode"],
        right_on=["first_name", "postcode"],
        suffixes=("_pupil", "_contact"),
    )
    pairs = pairs[pairs["node_pupil"] != pairs["node_contact"]]
    pairs = pairs.drop_duplicates(["node_pupil", *contact, "node_contact", "last_name"])
    pupil, other = pairs["node_pupil"].to_numpy(), pairs["node_contact"].to_numpy()
    key, postcode = place["address_key"].to_numpy(), place["postcode"].to_numpy()
    pairs = pairs.assign(
        same_address=pd.notna(key[pupil]) & (key[pupil] == key[other]),
        now=pd.notna(postcode[pupil]) & (postcode[pupil] == postcode[other]),
        postcode_only=pd.isna(key[other]) & pd.notna(postcode[other]),
        pupil_postcode=postcode[pupil],
    )
    # placed at another address of the pupil's postcode: a namesake next door
    pairs["next_door"] = pd.notna(key[other]) & ~pairs["same_address"] & pairs["now"]
    # tier of each pair: 2 at the pupil's address, 1 at its current postcode, 0 ever
    pairs["tier"] = pairs["same_address"].astype(int) + pairs["now"].astype(int)
    full_name = (pairs["last_name"] == pairs["contact_last_name"]).to_numpy()
    by_contact = [pairs[c].to_numpy() for c in ("node_pupil", *contact)]
    answered = pd.Series(full_name).groupby(by_contact).transform("any").to_numpy()
    named = pairs[full_name]
    best = named["tier"].groupby([named[c] for c in ("node_pupil", *contact)]).transform("max")
    named = named[(named["tier"] == best) & ~named["next_door"]]
    # away from the pupil's address, two namesakes are two guesses
    by_named = [named[c] for c in ("node_pupil", *contact)]
    several = named["node_contact"].groupby(by_named).transform("nunique") > 1
    named = named[(named["tier"] == 2) | ~several]
    return pd.concat(
        [
            _contact_frame(named, "parent_contact"),
            _unanswered_contacts(ctx, pairs[~answered], named["node_contact"]),
            _unplaced_contacts(ctx),
        ],
        ignore_index=True,
    )


def _unplaced_contacts(ctx: EdgeContext) -> pd.DataFrame:
    """A named contact held, by full name, by one person only in the area, whom no record places.

    A parent known only to police or health with the postcode left blank shares no postcode
    with the pupil, so :func:`contact_edges` cannot look for them there; with no postcode or
    address at all nothing says they live elsewhere, and a full name held by no one else is
    theirs (``contact_unplaced``), unless the name is common enough that a namesake of a contact
    no agency knows is likely: ``rules.contact_unplaced_expected`` or more persons of that full
    name expected in the area by chance (the first name's share times the surname's share times
    the persons named).
    """
    frame, place = ctx.frame, ctx.place
    unplaced = (place["postcode"].isna() & place["address_key"].isna()).to_numpy()
    names = frame[["node", "first_name", "last_name"]].dropna()
    persons = max(names["node"].nunique(), 1)
    # the only holder of the name, placed nowhere (few): chance and namesakes are reckoned
    # among the records sharing a first or last name with theirs, not over every name
    theirs = names[unplaced[names["node"].to_numpy()]]
    share = {
        part: names[names[part].isin(theirs[part])].drop_duplicates(["node", part])[part].value_counts()
        / persons
        for part in ("first_name", "last_name")
    }
    names = names[names["first_name"].isin(theirs["first_name"])].drop_duplicates()
    alone = ~names.duplicated(["first_name", "last_name"], keep=False).to_numpy()
    names = names[alone & unplaced[names["node"].to_numpy()]]
    expected = (
        names["first_name"].map(share["first_name"]) * names["last_name"].map(share["last_name"])
    ).to_numpy() * persons
    names = names[expected < ctx.rules.contact_unplaced_expected]
    contact = ["contact_first_name", "contact_last_name"]
    pupils = frame[["node", *contact]].dropna().drop_duplicates()
    pairs = pupils.merge(
        names, left_on=contact, right_on=["first_name", "last_name"], suffixes=("_pupil", "_contact")
    )
    return _contact_frame(pairs[pairs["node_pupil"] != pairs["node_contact"]], "contact_unplaced")


def _unanswered_contacts(ctx: EdgeContext, pairs: pd.DataFrame, named: pd.Series) -> pd.DataFrame:
    """Named contacts no record answers by full name: a typo, or a changed surname.

    Schools hold the parent's current surname; health and DWP often an
    earlier one (a maiden name), and clerks mistype. ``pairs`` are such
    contacts with each person of the same first name sharing a postcode with
    the pupil. The contact is

    * a person at the pupil's current postcode whose surname is at most two
      edits away (``contact_typo``), or
    * (``contact_first_name``) an adult 12 to 50 years older than the pupil
      (where both dates of birth are known), not already the full-name
      contact of another pupil (``named``), who is the only person of that
      first name at the pupil's address; or, with ``rules.contact_first_name``
      "postcode" and no one of that first name at the address, the only one
      sharing a postcode with the pupil, known there by postcode alone (health
      and DWP send no address), when a namesake there is unlikely: fewer than
      ``rules.contact_first_name_expected`` persons of that first name are
      expected at the pupil's postcode by chance (the first name's share of
      placed persons times the persons placed there). One placed at another
      address is refused with every postcode-level edge (see
      :func:`~matching.households.graph.guarded_components`), and one whose
      first name answers two contacts of different surnames is neither's.
    """
    born, scope = ctx.born, ctx.rules.contact_first_name
    now = pairs["now"].to_numpy(dtype=bool)
    distance = cpdist(
        pairs["contact_last_name"].tolist(),
        pairs["last_name"].tolist(),
        scorer=Levenshtein.distance,
    )
    key = ["node_pupil", "contact_first_name", "contact_last_name"]
    per = (
        pairs.assign(typo=now & (np.asarray(distance) <= 2))
        .groupby([*key, "node_contact"], sort=False)
        .agg(
            typo=("typo", "any"),
            same_address=("same_address", "first"),
            postcode_only=("postcode_only", "first"),
            pupil_postcode=("pupil_postcode", "first"),
        )
        .reset_index()
    )
    gap = (
        born["min"].reindex(per["node_pupil"]).to_numpy()
        - born["max"].reindex(per["node_contact"]).to_numpy()
    )
    years = pd.Series(gap).dt.days.to_numpy() / 365.25
    adult = np.isnan(years) | ((years >= 12) & (years <= 50))
    same = per["same_address"].to_numpy(dtype=bool)
    by_contact = [per[c].to_numpy() for c in key]
    at_address = pd.Series(same).groupby(by_contact).transform("sum").to_numpy()
    anywhere = per["node_contact"].groupby(by_contact).transform("nunique").to_numpy()
    unique = same & (at_address == 1)
    if scope == "postcode":
        unique |= (
            (at_address == 0)
            & (anywhere == 1)
            & per["postcode_only"].to_numpy(dtype=bool)
            & (_expected_first_names(ctx, per) < ctx.rules.contact_first_name_expected)
        )
    typos = per["typo"].to_numpy()
    first_name_only = (
        (scope != "off") & unique & adult & ~per["node_contact"].isin(named) & ~typos
    ).to_numpy()
    # one person answering two contacts' first names (KELLY NAVARRO's children and KELLY
    # ROBERTS's) is at most one of them: which one is not known
    claims = per[first_name_only].groupby("node_contact")["contact_last_name"].nunique()
    first_name_only &= ~per["node_contact"].isin(claims.index[claims > 1]).to_numpy()
    return pd.concat(
        [
            _contact_frame(per[typos], "contact_typo"),
            _contact_frame(per[first_name_only], "contact_first_name"),
        ],
        ignore_index=True,
    )


def _expected_first_names(ctx: EdgeContext, per: pd.DataFrame) -> np.ndarray:
    """Persons of the contact's first name expected at the pupil's postcode by chance."""
    postcode = ctx.place["postcode"]
    # only the contacts' first names are looked up: the others are not counted
    first = ctx.frame[["node", "first_name"]]
    first = first[first["first_name"].isin(per["contact_first_name"])].drop_duplicates()
    first = first[pd.notna(postcode.to_numpy()[first["node"].to_numpy()])]
    share = first["first_name"].value_counts() / max(int(postcode.notna().sum()), 1)
    at_postcode = per["pupil_postcode"].map(postcode.value_counts()).to_numpy(dtype=float)
    return per["contact_first_name"].map(share).fillna(0).to_numpy() * at_postcode


def _contact_frame(pairs: pd.DataFrame, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": pairs["node_pupil"].to_numpy(),
            "b": pairs["node_contact"].to_numpy(),
            "reason": reason,
            "evidence": (
                "contact " + pairs["contact_first_name"] + " " + pairs["contact_last_name"]
            ).to_numpy(dtype=object),
        }
    )
