// A cart of priced lines; the total is what checkout charges.
export function cartTotal(lines) {
  return lines.reduce((sum, line) => sum + line.price * line.quantity, 0);
}
