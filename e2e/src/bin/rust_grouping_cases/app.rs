//! Cart and checkout: the application code whose bugs the grouping fixtures capture. Every
//! function is a bug site for one case. `e2e/sdk/gen_grouping_fixtures.sh` also builds the binary
//! from a copy of this file with lines added above every error, as a later deploy would.

use std::collections::BTreeMap;
use std::fmt;

/// The payment provider refused the charge.
#[derive(Debug)]
pub struct PaymentDeclined {
    pub order_id: u64,
    pub amount_cents: u64,
}

impl fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (amount, order) = (self.amount_cents, self.order_id);
        write!(f, "payment of {amount} cents for order {order} declined")
    }
}

impl std::error::Error for PaymentDeclined {}

/// A discount code the shop does not know.
#[derive(Debug)]
pub struct UnknownCode;

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown discount code")
    }
}

impl std::error::Error for UnknownCode {}

/// A per-item discount asked for an empty cart.
#[derive(Debug)]
pub struct EmptyCart;

impl fmt::Display for EmptyCart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the cart is empty")
    }
}

impl std::error::Error for EmptyCart {}

pub type Cart = BTreeMap<String, u32>;

fn rate_of(code: &str) -> Option<u32> {
    match code {
        "SAVE10" => Some(10),
        "SAVE25" => Some(25),
        _ => None,
    }
}

pub fn parse_quantity(raw: &str) -> anyhow::Result<u32> {
    Ok(raw.trim().parse::<u32>()?)
}

pub fn add_item(cart: &mut Cart, sku: &str, raw_quantity: &str) -> anyhow::Result<()> {
    let quantity = parse_quantity(raw_quantity)?;
    *cart.entry(sku.to_owned()).or_default() += quantity;
    Ok(())
}

pub fn update_item(cart: &mut Cart, sku: &str, raw_quantity: &str) -> anyhow::Result<()> {
    let quantity = parse_quantity(raw_quantity)?;
    cart.insert(sku.to_owned(), quantity);
    Ok(())
}

pub fn discount_per_item(code: &str, n_items: u32) -> anyhow::Result<u32> {
    // UnknownCode for an unknown code, EmptyCart for an empty cart: one line, two bugs.
    let per_item = rate_of(code)
        .ok_or(UnknownCode)?
        .checked_div(n_items)
        .ok_or(EmptyCart)?;
    Ok(per_item)
}

pub fn charge(order_id: u64, amount_cents: u64, declined: bool) -> anyhow::Result<u64> {
    if declined {
        return Err(PaymentDeclined {
            order_id,
            amount_cents,
        }
        .into());
    }
    Ok(amount_cents)
}

pub fn checkout(order_id: u64, cart: &Cart, declined: bool) -> anyhow::Result<u64> {
    let amount_cents = cart.values().map(|&n| u64::from(n)).sum::<u64>() * 1250;
    charge(order_id, amount_cents, declined)
}

/// Panics (index out of bounds) for a line the order does not have.
pub fn line_total(prices: &[u64], quantities: &[u32], line: usize) -> u64 {
    prices[line] * u64::from(quantities[line])
}
